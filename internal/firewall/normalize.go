package firewall

import (
	"cmp"
	"container/heap"
	"net/netip"
	"slices"
	"time"
)

// element is one entry of an allow set: the closed address range [From, To]
// for one protocol and port, expiring after Timeout. From and To are of the
// same family.
type element struct {
	Protocol Protocol
	Port     uint16
	From, To netip.Addr
	Timeout  time.Duration
}

func (e element) compare(o element) int {
	return cmp.Or(
		cmp.Compare(e.Protocol, o.Protocol),
		cmp.Compare(e.Port, o.Port),
		e.From.Compare(o.From),
		e.To.Compare(o.To),
	)
}

// normalize turns grants into the disjoint elements the kernel accepts: the
// pipapo set behind an interval+concat set rejects overlapping ranges, so for
// every (protocol, port) the address space is cut into disjoint ranges, each
// carrying the largest Remaining of the grants that cover it (a sweep line).
// Adjacent ranges with equal timeouts are merged, so identical grants
// coalesce. Remaining is truncated to milliseconds, the kernel's precision;
// grants with less than 1ms left are dropped. IPv4-mapped IPv6 prefixes are
// treated as IPv4. The result is sorted by family (IPv4 first), protocol,
// port and address. Invalid prefixes are ignored (State.validate rejects them
// earlier).
func normalize(allows []Allow) []element {
	type ival struct {
		key      groupKey
		from, to netip.Addr
		timeout  time.Duration
	}
	var ivals []ival
	for _, a := range allows {
		t := a.Remaining.Truncate(time.Millisecond)
		if t <= 0 || !a.Source.IsValid() {
			continue
		}
		p := a.Source.Masked()
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				// ::ffff:0:0/95 and shorter also cover non-mapped space;
				// such a grant is kept as IPv6.
				bits = -1
			}
			if bits >= 0 {
				p = netip.PrefixFrom(p.Addr().Unmap(), bits)
			}
		}
		ivals = append(ivals, ival{
			key:     groupKey{is6: p.Addr().Is6(), proto: a.Protocol, port: a.Port},
			from:    p.Addr(),
			to:      lastAddr(p),
			timeout: t,
		})
	}
	slices.SortFunc(ivals, func(a, b ival) int {
		return cmp.Or(a.key.compare(b.key), a.from.Compare(b.from), a.to.Compare(b.to), -cmp.Compare(a.timeout, b.timeout))
	})
	// Identical ranges coalesce to the largest timeout (sorted first). After
	// this, the ranges covering any one address are distinct nested
	// prefixes, at most 33 (IPv4) or 129 (IPv6) of them, which bounds the
	// scan of the active set below.
	ivals = slices.CompactFunc(ivals, func(a, b ival) bool {
		return a.key == b.key && a.from == b.from && a.to == b.to
	})

	if len(ivals) == 0 {
		return nil
	}
	out := make([]element, 0, len(ivals))
	for start := 0; start < len(ivals); {
		end := start + 1
		for end < len(ivals) && ivals[end].key == ivals[start].key {
			end++
		}
		group := ivals[start:end]
		key := group[0].key

		// Boundaries: every range start and every address just after a
		// range end. Between consecutive boundaries the covering set is
		// constant.
		bounds := make([]netip.Addr, 0, 2*len(group))
		for _, iv := range group {
			bounds = append(bounds, iv.from)
			if next := iv.to.Next(); next.IsValid() {
				bounds = append(bounds, next)
			}
		}
		slices.SortFunc(bounds, netip.Addr.Compare)
		bounds = slices.Compact(bounds)

		var active activeHeap
		next := 0 // next interval of group to activate
		for i, b := range bounds {
			for next < len(group) && group[next].from == b {
				heap.Push(&active, activeIval{to: group[next].to, timeout: group[next].timeout})
				next++
			}
			for active.Len() > 0 && active[0].to.Less(b) {
				heap.Pop(&active)
			}
			if active.Len() == 0 {
				continue
			}
			// Every active range now covers b: it started at or before b
			// and does not end before it.
			best := time.Duration(0)
			for _, a := range active {
				best = max(best, a.timeout)
			}
			segEnd := lastOfSpace(b)
			if i+1 < len(bounds) {
				segEnd = bounds[i+1].Prev()
			}
			if n := len(out); n > 0 {
				prev := &out[n-1]
				if prev.Protocol == key.proto && prev.Port == key.port && prev.Timeout == best &&
					prev.To.Is6() == b.Is6() && prev.To.Next() == b {
					prev.To = segEnd
					continue
				}
			}
			out = append(out, element{Protocol: key.proto, Port: key.port, From: b, To: segEnd, Timeout: best})
		}
		start = end
	}
	return out
}

// groupKey identifies the address space a range lives in.
type groupKey struct {
	is6   bool
	proto Protocol
	port  uint16
}

func (k groupKey) compare(o groupKey) int {
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	return cmp.Or(cmp.Compare(b2i(k.is6), b2i(o.is6)), cmp.Compare(k.proto, o.proto), cmp.Compare(k.port, o.port))
}

// lastAddr returns the last address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().AsSlice()
	for bit := p.Bits(); bit < len(a)*8; bit++ {
		a[bit/8] |= 0x80 >> (bit % 8)
	}
	last, _ := netip.AddrFromSlice(a)
	return last
}

// lastOfSpace returns the highest address of a's family.
func lastOfSpace(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

type activeIval struct {
	to      netip.Addr
	timeout time.Duration
}

// activeHeap is a min-heap by range end, so ranges that end before the
// sweep position are popped first.
type activeHeap []activeIval

func (h activeHeap) Len() int           { return len(h) }
func (h activeHeap) Less(i, j int) bool { return h[i].to.Less(h[j].to) }
func (h activeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *activeHeap) Push(x any)        { *h = append(*h, x.(activeIval)) }
func (h *activeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
