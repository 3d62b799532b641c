package drawbridge_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

func TestDesired(t *testing.T) {
	const m = d.MachineID("mch_aaaaaaaaaaaaaaaaaaaa")
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	policy := &d.Policy{MachineID: m, Enabled: true, Rules: []d.PortRule{
		{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)},
		{Port: 53, Protocol: d.Any, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)},
	}}
	protected := []d.PortProto{{Port: 22, Protocol: d.TCP}, {Port: 53, Protocol: d.TCP}, {Port: 53, Protocol: d.UDP}}
	src1 := netip.MustParsePrefix("10.0.0.1/32")
	src2 := netip.MustParsePrefix("10.0.0.2/32")
	src6 := netip.MustParsePrefix("2001:db8::1/128")
	target := func(id string, status d.Status, port uint16, proto d.Protocol, src netip.Prefix, end time.Time) d.Target {
		return d.Target{ID: d.TargetID(id), MachineID: m, Port: port, Protocol: proto, Source: src, End: end, Status: status}
	}
	grant := func(ids []string, src netip.Prefix, port uint16, proto d.Protocol, remaining time.Duration, end time.Time) d.GrantState {
		tids := make([]d.TargetID, len(ids))
		for i, id := range ids {
			tids[i] = d.TargetID(id)
		}
		return d.GrantState{Targets: tids, Source: src, Port: port, Protocol: proto, Remaining: dur(remaining), NotAfter: end}
	}
	inAnHour := now.Add(time.Hour)
	tests := []struct {
		name    string
		policy  *d.Policy
		targets []d.Target
		want    d.DesiredState
	}{
		{
			name:   "no targets",
			policy: policy,
			want:   d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{}},
		},
		{
			name:   "active and applying become grants",
			policy: policy,
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 22, d.TCP, src1, inAnHour),
				target("tgt_b", d.StatusApplying, 22, d.TCP, src2, now.Add(2*time.Hour)),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{
				grant([]string{"tgt_a"}, src1, 22, d.TCP, time.Hour, inAnHour),
				grant([]string{"tgt_b"}, src2, 22, d.TCP, 2*time.Hour, now.Add(2*time.Hour)),
			}},
		},
		{
			name:   "other statuses are not grants",
			policy: policy,
			targets: []d.Target{
				target("tgt_a", d.StatusPending, 22, d.TCP, src1, inAnHour),
				target("tgt_b", d.StatusApproved, 22, d.TCP, src1, inAnHour),
				target("tgt_c", d.StatusExpired, 22, d.TCP, src1, inAnHour),
				target("tgt_d", d.StatusRevoked, 22, d.TCP, src1, inAnHour),
				target("tgt_e", d.StatusDenied, 22, d.TCP, src1, inAnHour),
				target("tgt_f", d.StatusFailed, 22, d.TCP, src1, inAnHour),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{}},
		},
		{
			name:   "no time left",
			policy: policy,
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 22, d.TCP, src1, now),
				target("tgt_b", d.StatusActive, 22, d.TCP, src2, now.Add(-time.Minute)),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{}},
		},
		{
			name:   "unprotected port and other machine skipped",
			policy: policy,
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 80, d.TCP, src1, inAnHour),
				target("tgt_b", d.StatusActive, 22, d.UDP, src1, inAnHour),
				{ID: "tgt_c", MachineID: "mch_bbbbbbbbbbbbbbbbbbbb", Port: 22, Protocol: d.TCP, Source: src1, End: inAnHour, Status: d.StatusActive},
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{}},
		},
		{
			name:   "any expands to tcp and udp",
			policy: policy,
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 53, d.Any, src1, inAnHour),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{
				grant([]string{"tgt_a"}, src1, 53, d.TCP, time.Hour, inAnHour),
				grant([]string{"tgt_a"}, src1, 53, d.UDP, time.Hour, inAnHour),
			}},
		},
		{
			name:   "any on a tcp-only rule grants tcp only",
			policy: policy,
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 22, d.Any, src1, inAnHour),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{
				grant([]string{"tgt_a"}, src1, 22, d.TCP, time.Hour, inAnHour),
			}},
		},
		{
			name:   "identical grants coalesce to the later end",
			policy: policy,
			targets: []d.Target{
				target("tgt_z", d.StatusActive, 22, d.TCP, src1, now.Add(2*time.Hour)),
				target("tgt_a", d.StatusApplying, 22, d.TCP, src1, inAnHour),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{
				grant([]string{"tgt_a", "tgt_z"}, src1, 22, d.TCP, 2*time.Hour, now.Add(2*time.Hour)),
			}},
		},
		{
			name:   "any coalesces with tcp on the shared protocol",
			policy: policy,
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 53, d.TCP, src1, now.Add(2*time.Hour)),
				target("tgt_b", d.StatusActive, 53, d.Any, src1, inAnHour),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{
				grant([]string{"tgt_a", "tgt_b"}, src1, 53, d.TCP, 2*time.Hour, now.Add(2*time.Hour)),
				grant([]string{"tgt_b"}, src1, 53, d.UDP, time.Hour, inAnHour),
			}},
		},
		{
			name:   "remaining truncated to milliseconds",
			policy: policy,
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 22, d.TCP, src1, now.Add(time.Minute+1999*time.Microsecond)),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{
				grant([]string{"tgt_a"}, src1, 22, d.TCP, time.Minute+time.Millisecond, now.Add(time.Minute+1999*time.Microsecond)),
			}},
		},
		{
			name:   "sorted by source, ipv4 first, then port and protocol",
			policy: policy,
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 53, d.UDP, src6, inAnHour),
				target("tgt_b", d.StatusActive, 53, d.UDP, src2, inAnHour),
				target("tgt_c", d.StatusActive, 22, d.TCP, src2, inAnHour),
				target("tgt_d", d.StatusActive, 22, d.TCP, netip.MustParsePrefix("10.0.0.0/8"), inAnHour),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{
				grant([]string{"tgt_d"}, netip.MustParsePrefix("10.0.0.0/8"), 22, d.TCP, time.Hour, inAnHour),
				grant([]string{"tgt_c"}, src2, 22, d.TCP, time.Hour, inAnHour),
				grant([]string{"tgt_b"}, src2, 53, d.UDP, time.Hour, inAnHour),
				grant([]string{"tgt_a"}, src6, 53, d.UDP, time.Hour, inAnHour),
			}},
		},
		{
			name:   "disabled policy protects nothing and grants nothing",
			policy: &d.Policy{MachineID: m, Enabled: false, Rules: policy.Rules},
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 22, d.TCP, src1, inAnHour),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: []d.PortProto{}, Grants: []d.GrantState{}},
		},
		{
			name:   "no policy",
			policy: nil,
			targets: []d.Target{
				target("tgt_a", d.StatusActive, 22, d.TCP, src1, inAnHour),
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: []d.PortProto{}, Grants: []d.GrantState{}},
		},
		{
			name:   "revoked with terminate listed until terminated",
			policy: policy,
			targets: []d.Target{
				{ID: "tgt_a", MachineID: m, Port: 53, Protocol: d.Any, Source: src1, End: inAnHour, Status: d.StatusRevoked, Terminate: true},
				{ID: "tgt_b", MachineID: m, Port: 22, Protocol: d.TCP, Source: src2, End: inAnHour, Status: d.StatusRevoked, Terminate: true, TerminatedAt: now},
				{ID: "tgt_c", MachineID: m, Port: 22, Protocol: d.TCP, Source: src2, End: inAnHour, Status: d.StatusRevoked},
				{ID: "tgt_d", MachineID: m, Port: 22, Protocol: d.TCP, Source: src2, End: inAnHour, Status: d.StatusExpired, Terminate: true},
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: protected, Grants: []d.GrantState{}, Terminate: []d.GrantState{
				{Targets: []d.TargetID{"tgt_a"}, Source: src1, Port: 53, Protocol: d.TCP},
				{Targets: []d.TargetID{"tgt_a"}, Source: src1, Port: 53, Protocol: d.UDP},
			}},
		},
		{
			name:   "revoked with terminate listed even when the policy is disabled",
			policy: &d.Policy{MachineID: m, Enabled: false, Rules: policy.Rules},
			targets: []d.Target{
				{ID: "tgt_a", MachineID: m, Port: 22, Protocol: d.TCP, Source: src1, End: inAnHour, Status: d.StatusRevoked, Terminate: true},
			},
			want: d.DesiredState{MachineID: m, Version: 7, Protected: []d.PortProto{}, Grants: []d.GrantState{}, Terminate: []d.GrantState{
				{Targets: []d.TargetID{"tgt_a"}, Source: src1, Port: 22, Protocol: d.TCP},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.Desired(m, 7, tt.policy, tt.targets, now)
			if diff := cmp.Diff(tt.want, got, equateNet); diff != "" {
				t.Errorf("Desired mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredRemainingNeverPastEnd(t *testing.T) {
	const m = d.MachineID("mch_aaaaaaaaaaaaaaaaaaaa")
	policy := &d.Policy{MachineID: m, Enabled: true, Rules: []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(time.Hour)}}}
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	src := netip.MustParsePrefix("10.0.0.1/32")
	ts := []d.Target{{ID: "tgt_a", MachineID: m, Port: 22, Protocol: d.TCP, Source: src, End: end, Status: d.StatusActive}}
	// Step through odd offsets so that the sub-millisecond part varies.
	for off := time.Duration(0); off < time.Hour; off += 7*time.Minute + 123457*time.Nanosecond {
		now := start.Add(off)
		ds := d.Desired(m, 1, policy, ts, now)
		if len(ds.Grants) != 1 {
			t.Fatalf("at %v: %d grants, want 1", off, len(ds.Grants))
		}
		r := ds.Grants[0].Remaining.Std()
		if r%time.Millisecond != 0 {
			t.Errorf("at %v: remaining %v is not whole milliseconds", off, r)
		}
		if now.Add(r).After(end) {
			t.Errorf("at %v: remaining %v runs past the end by %v", off, r, now.Add(r).Sub(end))
		}
		if end.Sub(now.Add(r)) >= time.Millisecond {
			t.Errorf("at %v: remaining %v is short by %v, more than the truncation", off, r, end.Sub(now.Add(r)))
		}
	}
}

func TestDesiredDeterministic(t *testing.T) {
	const m = d.MachineID("mch_aaaaaaaaaaaaaaaaaaaa")
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	policy := &d.Policy{MachineID: m, Enabled: true, Rules: []d.PortRule{
		{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)},
		{Port: 53, Protocol: d.Any, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)},
		{Port: 443, Protocol: d.UDP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)},
	}}
	sources := []string{"10.0.0.1/32", "10.0.0.0/24", "192.0.2.7/32", "2001:db8::1/128", "2001:db8::/64"}
	var ts []d.Target
	i := 0
	for _, s := range sources {
		for _, pp := range []struct {
			port  uint16
			proto d.Protocol
		}{{22, d.TCP}, {53, d.Any}, {53, d.UDP}, {443, d.UDP}} {
			for k := range 2 {
				i++
				ts = append(ts, d.Target{
					ID: d.TargetID("tgt_" + string(rune('a'+i%26)) + string(rune('a'+i/26))), MachineID: m,
					Port: pp.port, Protocol: pp.proto, Source: netip.MustParsePrefix(s),
					End: now.Add(time.Duration(i+k) * time.Minute), Status: d.StatusActive,
				})
			}
		}
	}
	want := d.Desired(m, 3, policy, ts, now)
	if !slices.IsSortedFunc(want.Grants, func(a, b d.GrantState) int {
		if c := a.Source.Addr().Compare(b.Source.Addr()); c != 0 {
			return c
		}
		if c := a.Source.Bits() - b.Source.Bits(); c != 0 {
			return c
		}
		if c := int(a.Port) - int(b.Port); c != 0 {
			return c
		}
		return strings.Compare(string(a.Protocol), string(b.Protocol))
	}) {
		t.Errorf("grants not sorted: %+v", want.Grants)
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(ts)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := d.Desired(m, 3, policy, shuffled, now)
		if diff := cmp.Diff(want, got, equateNet); diff != "" {
			t.Fatalf("Desired depends on target order (-first +shuffled):\n%s", diff)
		}
		gotJSON, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if string(gotJSON) != string(wantJSON) {
			t.Fatalf("JSON depends on target order:\n%s\n%s", wantJSON, gotJSON)
		}
	}
}

func TestServerTimeRoundTrip(t *testing.T) {
	recv := time.Date(2026, 11, 29, 1, 2, 3, 123456789, time.UTC)
	sent := recv.Add(1500 * time.Microsecond)
	r, s, err := d.ParseServerTime(d.FormatServerTime(recv, sent))
	if err != nil || !r.Equal(recv) || !s.Equal(sent) {
		t.Fatalf("ParseServerTime = %v, %v, %v", r, s, err)
	}
	for _, bad := range []string{"", "2026-11-29T01:02:03Z", "x,y", "2026-11-29T01:02:03Z,2026-11-29T01:02:02Z"} {
		if _, _, err := d.ParseServerTime(bad); err == nil {
			t.Errorf("ParseServerTime(%q) accepted", bad)
		}
	}
}

// TestClockSample checks the NTP-style estimate: the server's time inside
// the exchange is taken out of the round trip, and the offset is exact when
// the delays each way are equal.
func TestClockSample(t *testing.T) {
	server := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		name             string
		skew, up, down   time.Duration
		serverTime       time.Duration
		wantOff, wantRTT time.Duration
	}{
		{"synced", 0, 10 * time.Millisecond, 10 * time.Millisecond, 0, 0, 20 * time.Millisecond},
		{"ahead, long-poll", 3 * time.Second, 5 * time.Millisecond, 5 * time.Millisecond, 30 * time.Second, 3 * time.Second, 10 * time.Millisecond},
		{"behind", -2 * time.Second, time.Millisecond, time.Millisecond, time.Millisecond, -2 * time.Second, 2 * time.Millisecond},
		{"asymmetric: off by half the difference", 0, 0, 2500 * time.Millisecond, 0, 1250 * time.Millisecond, 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t0 := server.Add(tt.skew)
		recv := server.Add(tt.up)
		sent := recv.Add(tt.serverTime)
		t1 := sent.Add(tt.down).Add(tt.skew)
		c := d.Sample(t0, t1, recv, sent)
		if c.Offset.Std() != tt.wantOff || c.RTT.Std() != tt.wantRTT {
			t.Errorf("%s: Sample = %+v, want offset %v rtt %v", tt.name, c, tt.wantOff, tt.wantRTT)
		}
	}
}

func TestClockSkewed(t *testing.T) {
	c := func(off, rtt time.Duration) *d.Clock { return &d.Clock{Offset: d.Offset(off), RTT: d.Duration(rtt)} }
	tests := []struct {
		name string
		c    *d.Clock
		want bool
	}{
		{"unknown", nil, false},
		{"small", c(500*time.Millisecond, time.Millisecond), false},
		{"ahead", c(3*time.Second, time.Millisecond), true},
		{"behind", c(-3*time.Second, time.Millisecond), true},
		{"within the uncertainty", c(3*time.Second, 4*time.Second), false},
	}
	for _, tt := range tests {
		if got := tt.c.Skewed(2 * time.Second); got != tt.want {
			t.Errorf("%s: Skewed = %v, want %v", tt.name, got, tt.want)
		}
		if got := tt.c.SkewWarning(2*time.Second) != ""; got != tt.want {
			t.Errorf("%s: SkewWarning non-empty = %v, want %v", tt.name, got, tt.want)
		}
	}
	if c(3*time.Second, 0).Skewed(0) {
		t.Error("a zero threshold warns")
	}
}
