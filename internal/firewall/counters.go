package firewall

import "net/netip"

// Counter is what one allow element has accepted since it was added to the
// kernel: the packets and bytes (IP header included) from sources in
// [From, To] to Protocol/Port. An element is a piece of the normalised
// grants (see normalize), so one grant may span several elements and, when
// grants overlap, one element may serve several grants. Replacing an
// element (a changed timeout) or rebuilding the table starts its counter
// again from zero.
type Counter struct {
	From, To netip.Addr
	Protocol Protocol
	Port     uint16
	Packets  uint64
	Bytes    uint64
}

// Covers reports whether the element's range overlaps src for the same
// protocol and port: traffic counted by the element was then allowed by a
// grant for src. Pieces of the normalisation lie either wholly inside or
// wholly outside every grant's prefix; only adjacent pieces merged because
// their remaining times were equal can also cover a neighbouring grant's
// range.
func (c Counter) Covers(src netip.Prefix, proto Protocol, port uint16) bool {
	if c.Protocol != proto || c.Port != port || !src.IsValid() {
		return false
	}
	p := src.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Addr().Is4() != c.From.Is4() {
		return false
	}
	return !lastAddr(p).Less(c.From) && !c.To.Less(p.Addr())
}
