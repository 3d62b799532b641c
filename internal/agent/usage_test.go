package agent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/firewall"
)

func ctr(from, to string, port uint16, packets, bytes uint64) firewall.Counter {
	return firewall.Counter{From: netip.MustParseAddr(from), To: netip.MustParseAddr(to), Protocol: firewall.TCP, Port: port, Packets: packets, Bytes: bytes}
}

func grant(src string, port uint16, ids ...d.TargetID) d.GrantState {
	return d.GrantState{Targets: ids, Source: netip.MustParsePrefix(src), Port: port, Protocol: d.TCP}
}

// totals returns packets per target.
func totals(u *usageTracker) map[d.TargetID]uint64 {
	m := map[d.TargetID]uint64{}
	for id, t := range u.totals {
		m[id] = t.packets
	}
	return m
}

func TestUsageTracker(t *testing.T) {
	t0 := time.Now()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	grants := []d.GrantState{
		grant("198.18.0.0/24", 22, "tgt_wide"),
		grant("198.18.0.5/32", 22, "tgt_host", "tgt_same"), // two identical grants, coalesced
		grant("198.18.0.7/32", 443, "tgt_https"),
		grant("2001:db8::/64", 22, "tgt_v6"),
	}
	u := newUsageTracker()
	// Counted before this run: a baseline, credited to nobody.
	u.observe([]firewall.Counter{ctr("198.18.0.0", "198.18.0.4", 22, 100, 10000)}, grants, at(0))
	if got := totals(u); len(got) != 0 && got["tgt_wide"] != 0 {
		t.Fatalf("baseline credited: %v", got)
	}

	// The split elements of the /24 around the /32, plus the others.
	u.observe([]firewall.Counter{
		ctr("198.18.0.0", "198.18.0.4", 22, 110, 11000),               // +10 for wide
		ctr("198.18.0.5", "198.18.0.5", 22, 3, 300),                   // new: +3 for wide, host, same
		ctr("198.18.0.6", "198.18.0.255", 22, 0, 0),                   // new, no traffic
		ctr("198.18.0.7", "198.18.0.7", 443, 4, 400),                  // +4 https
		ctr("2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 22, 1, 80), // +1 v6
	}, grants, at(1))
	want := map[d.TargetID]uint64{"tgt_wide": 13, "tgt_host": 3, "tgt_same": 3, "tgt_https": 4, "tgt_v6": 1}
	if diff := cmp.Diff(want, totals(u)); diff != "" {
		t.Fatalf("after the first reading (-want +got):\n%s", diff)
	}

	// Replaced elements (counter went down) count from zero; an element
	// that vanished is forgotten; a merged element covering both grants
	// credits both.
	u.observe([]firewall.Counter{
		ctr("198.18.0.0", "198.18.0.4", 22, 2, 200),   // replaced: +2 wide
		ctr("198.18.0.5", "198.18.0.255", 22, 5, 500), // new merged range: +5 wide, host, same
	}, grants, at(2))
	want = map[d.TargetID]uint64{"tgt_wide": 20, "tgt_host": 8, "tgt_same": 8, "tgt_https": 4, "tgt_v6": 1}
	if diff := cmp.Diff(want, totals(u)); diff != "" {
		t.Fatalf("after the second reading (-want +got):\n%s", diff)
	}
	if w := u.totals["tgt_wide"]; !w.first.Equal(at(1)) || !w.last.Equal(at(2)) {
		t.Errorf("wide first %v last %v, want readings 1 and 2", w.first.Sub(t0), w.last.Sub(t0))
	}
	if h := u.totals["tgt_https"]; !h.last.Equal(at(1)) {
		t.Errorf("https last seen at %v, want reading 1", h.last.Sub(t0))
	}

	// Reports: everything once, then only what changed.
	rs := u.report(at(3))
	if len(rs) != 5 {
		t.Fatalf("first report: %d targets, want 5: %+v", len(rs), rs)
	}
	for _, r := range rs {
		if r.Target == "tgt_https" && (r.FirstSeenAgo != d.Duration(2*time.Second) || r.LastSeenAgo != d.Duration(2*time.Second)) {
			t.Errorf("https report %+v: want first and last seen 2s ago", r)
		}
	}
	u.sent(rs)
	if rs := u.report(at(4)); len(rs) != 0 {
		t.Errorf("report with nothing new: %+v", rs)
	}
	u.observe([]firewall.Counter{
		ctr("198.18.0.0", "198.18.0.4", 22, 2, 200),
		ctr("198.18.0.5", "198.18.0.255", 22, 6, 600),
	}, grants, at(5))
	rs = u.report(at(5))
	var ids []d.TargetID
	for _, r := range rs {
		ids = append(ids, r.Target)
	}
	if diff := cmp.Diff([]d.TargetID{"tgt_host", "tgt_same", "tgt_wide"}, ids); diff != "" {
		t.Errorf("second report (-want +got):\n%s", diff)
	}
}

func TestChangesGrants(t *testing.T) {
	end := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	g := func(src string, end time.Time) d.GrantState {
		s := grant(src, 22, "tgt_x")
		s.NotAfter = end
		return s
	}
	state := func(gs ...d.GrantState) *d.DesiredState { return &d.DesiredState{Grants: gs} }
	tests := []struct {
		name       string
		prev, next *d.DesiredState
		want       bool
	}{
		{"first state", nil, state(g("198.18.0.1/32", end)), false},
		{"grant added", state(g("198.18.0.1/32", end)), state(g("198.18.0.1/32", end), g("198.18.0.2/32", end)), false},
		{"grant removed", state(g("198.18.0.1/32", end)), state(), true},
		{"grant extended", state(g("198.18.0.1/32", end)), state(g("198.18.0.1/32", end.Add(time.Hour))), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changesGrants(tt.prev, tt.next); got != tt.want {
				t.Errorf("changesGrants = %v, want %v", got, tt.want)
			}
		})
	}
}
