package drawbridge

import (
	"fmt"
	"net/netip"
	"strings"
)

// AnySource is the allowed-source entry that admits every address, IPv4 and IPv6.
const AnySource = "*"

// ParseSource reads a request's source: a single address ("198.51.100.7",
// "2001:db8::1") becomes a host prefix (/32, /128); a CIDR must be in
// canonical form (no host bits set) so that what is granted is exactly what
// was written. IPv4-mapped IPv6 addresses are unmapped. Zones are rejected.
func ParseSource(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %s", Excerpt(s))
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %s: zones are not allowed", Excerpt(s))
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, fmt.Errorf("invalid CIDR %s", Excerpt(s))
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("CIDR %s has host bits set; did you mean %s?", Excerpt(s), p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %s", Excerpt(s))
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %s: zones are not allowed", Excerpt(s))
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseAllowedSource reads a policy's allowed-source entry: "*" or a source
// as ParseSource reads it. It returns the canonical string form.
func ParseAllowedSource(s string) (string, error) {
	if strings.TrimSpace(s) == AnySource {
		return AnySource, nil
	}
	p, err := ParseSource(s)
	if err != nil {
		return "", err
	}
	return p.String(), nil
}

// prefixWithin reports whether inner lies entirely inside outer.
func prefixWithin(inner, outer netip.Prefix) bool {
	return inner.Addr().Is4() == outer.Addr().Is4() &&
		inner.Bits() >= outer.Bits() && outer.Contains(inner.Addr())
}
