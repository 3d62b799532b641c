package agent

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/drawbridge/drawbridge/internal/firewall"
)

// How usage is counted
//
// The kernel counts packets and bytes per allow element. Elements are the
// normalised pieces of the grants (split where grants overlap, merged where
// neighbours have equal remaining time) and an element is replaced, its
// counter starting again at zero, when its timeout changes or the table is
// rebuilt. So the agent keeps the running totals itself, per target:
//
//   - at start it reads every element once as a baseline (what earlier runs
//     counted is theirs), then every UsageInterval, just before an
//     element's kernel expiry, and before applying a state that removes or
//     changes grants (so a revoked grant's last packets are counted);
//   - the growth of each element since the previous reading (all of it for
//     a new element, or for one whose counter went down: it was replaced)
//     is added to every target of every grant whose source overlaps the
//     element's range;
//   - the first and last readings that saw a target's totals grow are its
//     first and last "seen" times.
//
// Totals are this run's (the report's epoch); the server adds runs up.

// usageTracker accumulates per-target traffic from successive readings of
// the kernel counters. It is not safe for concurrent use; the agent calls it
// under its mutex.
type usageTracker struct {
	epoch   string
	started bool
	base    map[elemID]firewall.Counter // previous reading
	totals  map[d.TargetID]*targetTotals
}

// elemID identifies an allow element.
type elemID struct {
	from, to netip.Addr
	proto    firewall.Protocol
	port     uint16
}

// targetTotals is what this run counted for one target.
type targetTotals struct {
	packets, bytes uint64
	first, last    time.Time // readings that saw growth (monotonic)
	inState        time.Time // last reading at which a grant carried it
	sent           *d.TargetUsage
}

func newUsageTracker() *usageTracker {
	return &usageTracker{
		epoch:  d.RandomString(16),
		base:   map[elemID]firewall.Counter{},
		totals: map[d.TargetID]*targetTotals{},
	}
}

// baseline records the counters already in the kernel without crediting
// anyone: they belong to earlier runs of the agent.
func (u *usageTracker) baseline(cs []firewall.Counter) {
	u.base = make(map[elemID]firewall.Counter, len(cs))
	for _, c := range cs {
		u.base[idOf(c)] = c
	}
	u.started = true
}

func idOf(c firewall.Counter) elemID {
	return elemID{from: c.From, to: c.To, proto: c.Protocol, port: c.Port}
}

// observe credits the growth since the previous reading to the targets of
// grants, the grants that were installed while it accrued, at time now.
func (u *usageTracker) observe(cs []firewall.Counter, grants []d.GrantState, now time.Time) {
	if !u.started {
		u.baseline(cs)
		return
	}
	idx := newGrantIndex(grants)
	for _, g := range grants {
		for _, id := range g.Targets {
			t := u.total(id)
			t.inState = now
		}
	}
	next := make(map[elemID]firewall.Counter, len(cs))
	for _, c := range cs {
		k := idOf(c)
		next[k] = c
		dp, db := c.Packets, c.Bytes
		if prev, ok := u.base[k]; ok && c.Packets >= prev.Packets && c.Bytes >= prev.Bytes {
			dp, db = c.Packets-prev.Packets, c.Bytes-prev.Bytes
		} // else: new element, or replaced (its counter restarted): all of it is new
		if dp == 0 && db == 0 {
			continue
		}
		for _, gi := range idx.covering(c) {
			for _, id := range grants[gi].Targets {
				t := u.total(id)
				t.packets += dp
				t.bytes += db
				if t.first.IsZero() {
					t.first = now
				}
				t.last = now
			}
		}
	}
	u.base = next
}

func (u *usageTracker) total(id d.TargetID) *targetTotals {
	t := u.totals[id]
	if t == nil {
		t = &targetTotals{}
		u.totals[id] = t
	}
	return t
}

// forgetAfter is how long totals of a target no grant carries any more are
// kept once reported: long enough for any late reading, short enough to
// bound memory.
const forgetAfter = 10 * time.Minute

// report returns what changed since the last successful report, at now:
// every target with new totals, and every target seen for the first time
// (with zeros), so the server knows it was watched.
func (u *usageTracker) report(now time.Time) []d.TargetUsage {
	var out []d.TargetUsage
	for id, t := range u.totals {
		r := d.TargetUsage{Target: id, Packets: t.packets, Bytes: t.bytes}
		if t.packets > 0 {
			r.FirstSeenAgo = d.Duration(now.Sub(t.first).Truncate(time.Millisecond))
			r.LastSeenAgo = d.Duration(now.Sub(t.last).Truncate(time.Millisecond))
		}
		if t.sent != nil && t.sent.Packets == r.Packets && t.sent.Bytes == r.Bytes {
			if now.Sub(t.inState) > forgetAfter {
				delete(u.totals, id)
			}
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b d.TargetUsage) int { return cmp.Compare(a.Target, b.Target) })
	return out
}

// sent records that rs reached the server.
func (u *usageTracker) sent(rs []d.TargetUsage) {
	for _, r := range rs {
		if t := u.totals[r.Target]; t != nil {
			r := r
			t.sent = &r
		}
	}
}

// grantIndex finds the grants whose source overlaps an element's range.
type grantIndex struct {
	byPrefix map[groupPrefix][]int // grants by (protocol, port, masked source)
	starts   map[group][]start     // per (protocol, port): grants sorted by first address
}

type group struct {
	proto firewall.Protocol
	port  uint16
}

type groupPrefix struct {
	group
	p netip.Prefix
}

type start struct {
	addr netip.Addr
	i    int
}

func newGrantIndex(grants []d.GrantState) *grantIndex {
	x := &grantIndex{byPrefix: map[groupPrefix][]int{}, starts: map[group][]start{}}
	for i, g := range grants {
		p := canonical(g.Source)
		if !p.IsValid() {
			continue
		}
		k := group{fwProto(g.Protocol), g.Port}
		x.byPrefix[groupPrefix{k, p}] = append(x.byPrefix[groupPrefix{k, p}], i)
		x.starts[k] = append(x.starts[k], start{p.Addr(), i})
	}
	for _, s := range x.starts {
		slices.SortFunc(s, func(a, b start) int { return a.addr.Compare(b.addr) })
	}
	return x
}

// canonical masks a prefix and turns an IPv4-mapped one into IPv4, as the
// firewall does when it builds elements.
func canonical(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// covering returns the grants whose source overlaps c's range: those whose
// prefix contains c.From (at most one per prefix length), and those that
// start inside (c.From, c.To].
func (x *grantIndex) covering(c firewall.Counter) []int {
	k := group{c.Protocol, c.Port}
	var out []int
	for bits := 0; bits <= c.From.BitLen(); bits++ {
		p, err := c.From.Prefix(bits)
		if err != nil {
			continue
		}
		out = append(out, x.byPrefix[groupPrefix{k, p}]...)
	}
	s := x.starts[k]
	i, _ := slices.BinarySearchFunc(s, c.From, func(e start, a netip.Addr) int {
		if e.addr.Compare(a) <= 0 {
			return -1 // starts at or before From: counted above if it covers it
		}
		return 1
	})
	for ; i < len(s) && !c.To.Less(s[i].addr); i++ {
		out = append(out, s[i].i)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// usageLoop reads the counters every UsageInterval (and just before a grant
// ends in the kernel) and reports what changed.
func (a *Agent) usageLoop(ctx context.Context) {
	for {
		sleep(ctx, a.nextUsageRead(time.Now()))
		if ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		a.readUsage()
		rs := a.usage.report(time.Now())
		a.mu.Unlock()
		if len(rs) == 0 {
			continue
		}
		if err := a.sendUsage(ctx, rs); err != nil {
			if ctx.Err() == nil {
				a.log.Warn("report usage", "err", err)
			}
			continue
		}
		a.mu.Lock()
		a.usage.sent(rs)
		a.mu.Unlock()
	}
}

// preExpiryRead is how long before a grant's kernel expiry the agent reads
// the counters, so that its last packets are counted.
const preExpiryRead = 250 * time.Millisecond

// nextUsageRead returns how long to wait before the next reading: the
// interval, or less if a grant ends sooner.
func (a *Agent) nextUsageRead(now time.Time) time.Duration {
	wait := a.cfg.UsageInterval
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == nil {
		return wait
	}
	for _, g := range a.state.Grants {
		if w := grantLeft(g, a.receivedAt, now) - preExpiryRead; w > 0 && w < wait {
			wait = w
		}
	}
	return wait
}

// readUsage reads the kernel counters and credits them to the grants of the
// installed state. The caller holds a.mu.
func (a *Agent) readUsage() {
	if a.state == nil && a.usage.started {
		return
	}
	cs, err := a.fw.Counters()
	if err != nil {
		a.log.Warn("read traffic counters", "err", err)
		return
	}
	var grants []d.GrantState
	if a.state != nil {
		grants = a.state.Grants
	}
	a.usage.observe(cs, grants, time.Now())
}

// sendUsage reports in chunks the server accepts.
func (a *Agent) sendUsage(ctx context.Context, rs []d.TargetUsage) error {
	for len(rs) > 0 {
		n := min(len(rs), d.MaxUsageTargets)
		cctx, cancel := context.WithTimeout(ctx, client.DefaultTimeout)
		err := a.api.ReportUsage(cctx, a.creds.id.MachineID, d.UsageInput{Epoch: a.usage.epoch, Targets: rs[:n]})
		cancel()
		if err != nil {
			return err
		}
		rs = rs[n:]
	}
	return nil
}

// changesGrants reports whether installing next removes or changes a grant
// of prev, so elements may be deleted and their counts must be read first.
func changesGrants(prev, next *d.DesiredState) bool {
	if prev == nil {
		return false
	}
	type key struct {
		src   netip.Prefix
		port  uint16
		proto d.Protocol
		end   time.Time
	}
	have := make(map[key]bool, len(next.Grants))
	for _, g := range next.Grants {
		have[key{g.Source, g.Port, g.Protocol, g.NotAfter}] = true
	}
	for _, g := range prev.Grants {
		if !have[key{g.Source, g.Port, g.Protocol, g.NotAfter}] {
			return true
		}
	}
	return false
}
