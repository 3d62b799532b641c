package drawbridge

import (
	"fmt"
	"math/big"
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

// Limits of limits.deny_any_source: the sources of a policy, or of one
// request on one machine, may together cover at most a /16 of IPv4 space and
// a /48 of IPv6 space.
const (
	MaxNarrowIPv4Bits = 16 // 2^16 addresses
	MaxNarrowIPv6Bits = 80 // 2^80 addresses, a /48
)

// ipv4Embeddings are the IPv6 prefixes whose addresses stand for IPv4
// addresses: NAT64 (RFC 6052 well-known, RFC 8215 local-use), IPv4-mapped
// and IPv4-compatible. A source inside one is counted as the IPv4 space it
// reaches, not as IPv6 space, so that 64:ff9b::/96 is as wide as 0.0.0.0/0.
var ipv4Embeddings = []netip.Prefix{
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("::ffff:0:0/96"),
	netip.MustParsePrefix("::/96"),
}

// WideSources reports whether srcs together cover more addresses than
// limits.deny_any_source allows (more than 2^16 IPv4 addresses or 2^80 IPv6
// addresses, counted over the union of the prefixes, so a prefix inside
// another counts once), and if so describes why.
//
// IPv6 prefixes that embed IPv4 addresses count as the IPv4 space they can
// reach: a prefix of length n ≥ 96 inside one of them reaches 2^(128−n) IPv4
// addresses; a shorter one inside it (possible in 64:ff9b:1::/48, whose
// address format the operator chooses), or one that contains such a
// prefix, reaches all of IPv4. The function is pure.
func WideSources(srcs []netip.Prefix) (bool, string) {
	var v4, v6 []netip.Prefix
	all4 := netip.MustParsePrefix("0.0.0.0/0")
	for _, p := range srcs {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		if p.Addr().Is4() {
			v4 = append(v4, p)
			continue
		}
		embedded := false
		for _, e := range ipv4Embeddings {
			switch {
			case prefixWithin(p, e) && p.Bits() >= 96:
				b := p.Addr().As16()
				v4 = append(v4, netip.PrefixFrom(netip.AddrFrom4([4]byte(b[12:])), p.Bits()-96))
				embedded = true
			case prefixWithin(p, e):
				v4 = append(v4, all4)
				embedded = true
			case prefixWithin(e, p):
				v4 = append(v4, all4) // and its own IPv6 space, counted below
			}
		}
		if !embedded {
			v6 = append(v6, p)
		}
	}
	if n := addressCount(v4, 32); n.Cmp(new(big.Int).Lsh(big.NewInt(1), MaxNarrowIPv4Bits)) > 0 {
		return true, fmt.Sprintf("the sources cover %s IPv4 addresses, more than a /%d (%d)", n, 32-MaxNarrowIPv4Bits, 1<<MaxNarrowIPv4Bits)
	}
	if n := addressCount(v6, 128); n.Cmp(new(big.Int).Lsh(big.NewInt(1), MaxNarrowIPv6Bits)) > 0 {
		return true, fmt.Sprintf("the sources cover more IPv6 addresses than a /%d", 128-MaxNarrowIPv6Bits)
	}
	return false, ""
}

// addressCount returns the number of addresses in the union of ps, all of
// one family with addresses of bits bits. CIDR prefixes either nest or are
// disjoint, so the union is the sum over the prefixes no other contains.
func addressCount(ps []netip.Prefix, bits int) *big.Int {
	sum := new(big.Int)
	for i, p := range ps {
		inside := false
		for j, q := range ps {
			if i != j && prefixWithin(p, q) && (p != q || j < i) {
				inside = true
				break
			}
		}
		if !inside {
			sum.Add(sum, new(big.Int).Lsh(big.NewInt(1), uint(bits-p.Bits())))
		}
	}
	return sum
}
