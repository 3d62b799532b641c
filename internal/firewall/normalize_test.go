package firewall

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNormalize(t *testing.T) {
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	const s = time.Second
	tests := []struct {
		name   string
		allows []Allow
		want   []element
	}{
		{"empty", nil, nil},
		{
			name: "expired and sub-millisecond dropped",
			allows: []Allow{
				{p("198.18.0.1/32"), TCP, 22, 0},
				{p("198.18.0.2/32"), TCP, 22, -s},
				{p("198.18.0.3/32"), TCP, 22, 999 * time.Microsecond},
			},
		},
		{
			name:   "single host, truncated to ms",
			allows: []Allow{{p("198.18.0.5/32"), TCP, 22, 1500*time.Millisecond + 700*time.Microsecond}},
			want:   []element{{TCP, 22, a("198.18.0.5"), a("198.18.0.5"), 1500 * time.Millisecond}},
		},
		{
			name: "identical keys coalesce to max",
			allows: []Allow{
				{p("198.18.0.5/32"), TCP, 22, 3 * s},
				{p("198.18.0.5/32"), TCP, 22, 7 * s},
				{p("198.18.0.5/32"), TCP, 22, 5 * s},
			},
			want: []element{{TCP, 22, a("198.18.0.5"), a("198.18.0.5"), 7 * s}},
		},
		{
			name: "host inside network with longer timeout splits it",
			allows: []Allow{
				{p("198.18.0.0/24"), TCP, 22, 10 * s},
				{p("198.18.0.5/32"), TCP, 22, 60 * s},
			},
			want: []element{
				{TCP, 22, a("198.18.0.0"), a("198.18.0.4"), 10 * s},
				{TCP, 22, a("198.18.0.5"), a("198.18.0.5"), 60 * s},
				{TCP, 22, a("198.18.0.6"), a("198.18.0.255"), 10 * s},
			},
		},
		{
			name: "host inside network with shorter timeout is absorbed",
			allows: []Allow{
				{p("198.18.0.5/32"), TCP, 22, 10 * s},
				{p("198.18.0.0/24"), TCP, 22, 60 * s},
			},
			want: []element{{TCP, 22, a("198.18.0.0"), a("198.18.0.255"), 60 * s}},
		},
		{
			name: "adjacent equal timeouts merge, different ports and protocols stay apart",
			allows: []Allow{
				{p("198.18.0.4/32"), TCP, 22, 5 * s},
				{p("198.18.0.5/32"), TCP, 22, 5 * s},
				{p("198.18.0.5/32"), UDP, 22, 5 * s},
				{p("198.18.0.5/32"), TCP, 443, 5 * s},
			},
			want: []element{
				{TCP, 22, a("198.18.0.4"), a("198.18.0.5"), 5 * s},
				{TCP, 443, a("198.18.0.5"), a("198.18.0.5"), 5 * s},
				{UDP, 22, a("198.18.0.5"), a("198.18.0.5"), 5 * s},
			},
		},
		{
			name: "families apart, IPv4 first, mapped treated as IPv4, unmasked prefix masked",
			allows: []Allow{
				{p("2001:2::/64"), TCP, 22, 5 * s},
				{p("::ffff:198.18.0.7/128"), TCP, 22, 5 * s},
				{p("198.18.0.9/31"), TCP, 22, 4 * s},
			},
			want: []element{
				{TCP, 22, a("198.18.0.7"), a("198.18.0.7"), 5 * s},
				{TCP, 22, a("198.18.0.8"), a("198.18.0.9"), 4 * s},
				{TCP, 22, a("2001:2::"), a("2001:2::ffff:ffff:ffff:ffff"), 5 * s},
			},
		},
		{
			name: "whole address spaces",
			allows: []Allow{
				{p("0.0.0.0/0"), UDP, 53, 5 * s},
				{p("255.255.255.255/32"), UDP, 53, 9 * s},
				{p("::/0"), UDP, 53, 5 * s},
			},
			want: []element{
				{UDP, 53, a("0.0.0.0"), a("255.255.255.254"), 5 * s},
				{UDP, 53, a("255.255.255.255"), a("255.255.255.255"), 9 * s},
				{UDP, 53, a("::"), a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 5 * s},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := normalize(tc.allows)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Errorf("normalize mismatch (-want +got):\n%s", diff)
			}
			checkNormalized(t, tc.allows, got, nil)
		})
	}
}

// FuzzNormalize compares normalize with a brute-force oracle on small address
// spaces: for every address, the largest Remaining over the grants covering it
// must equal the timeout of the one element holding it.
func FuzzNormalize(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 0, 5, 8, 60})
	f.Add([]byte{0, 5, 8, 10, 0, 0, 0, 60, 1, 3, 7, 20})
	f.Add([]byte{4, 0, 9, 10, 6, 4, 10, 30, 0, 255, 8, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var allows []Allow
		data = data[:min(len(data), 4*64)] // the oracle is quadratic
		for len(data) >= 4 {
			allows = append(allows, fuzzAllow(data[:4]))
			data = data[4:]
		}
		var probes []netip.Addr
		for i := range 256 {
			probes = append(probes,
				netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}),
				netip.AddrFrom16([16]byte{0x20, 0x01, 0, 0x02, 15: byte(i)}))
		}
		probes = append(probes,
			netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("9.255.255.255"),
			netip.MustParseAddr("10.0.1.0"), netip.MustParseAddr("255.255.255.255"),
			netip.MustParseAddr("::"), netip.MustParseAddr("2001:1:ffff:ffff:ffff:ffff:ffff:ffff"),
			netip.MustParseAddr("2001:2::100"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
		checkNormalized(t, allows, normalize(allows), probes)
	})
}

// fuzzAllow decodes 4 bytes into a grant inside 10.0.0.0/24 or 2001:2::/120
// (occasionally a much shorter prefix), one of two ports and protocols.
func fuzzAllow(b []byte) Allow {
	proto := TCP
	if b[0]&1 != 0 {
		proto = UDP
	}
	port := uint16(22 + b[0]>>1&1)
	var bits int
	switch v := b[2] % 12; v {
	case 9:
		bits = 0
	case 10:
		bits = 8
	case 11:
		bits = 23
	default:
		bits = 24 + int(v)
	}
	addr := netip.AddrFrom4([4]byte{10, 0, 0, b[1]})
	if b[0]&4 != 0 {
		addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0, 0x02, 15: b[1]})
		bits += 96
	}
	return Allow{
		Source:    netip.PrefixFrom(addr, bits),
		Protocol:  proto,
		Port:      port,
		Remaining: time.Duration(int(b[3])-8) * 100 * time.Millisecond,
	}
}

// checkNormalized checks the invariants of normalize's result, and compares
// it with a brute-force oracle at every probe address.
func checkNormalized(t *testing.T, allows []Allow, got []element, probes []netip.Addr) {
	t.Helper()
	for i, e := range got {
		if !e.From.IsValid() || e.From.Is4() != e.To.Is4() || e.To.Less(e.From) {
			t.Fatalf("element %d: bad range %v-%v", i, e.From, e.To)
		}
		if e.Timeout < time.Millisecond || e.Timeout%time.Millisecond != 0 {
			t.Fatalf("element %d: bad timeout %v", i, e.Timeout)
		}
		if i == 0 {
			continue
		}
		prev := got[i-1]
		sameKey := prev.Protocol == e.Protocol && prev.Port == e.Port && prev.From.Is4() == e.From.Is4()
		if sameKey && !prev.To.Less(e.From) {
			t.Fatalf("elements %d and %d overlap or are unsorted: %+v %+v", i-1, i, prev, e)
		}
		if sameKey && prev.To.Next() == e.From && prev.Timeout == e.Timeout {
			t.Fatalf("elements %d and %d should have been merged: %+v %+v", i-1, i, prev, e)
		}
	}
	for _, a := range probes {
		for _, proto := range []Protocol{TCP, UDP} {
			for _, port := range []uint16{22, 23} {
				var want time.Duration
				for _, al := range allows {
					r := al.Remaining.Truncate(time.Millisecond)
					if al.Protocol == proto && al.Port == port && r > 0 && al.Source.Masked().Contains(a) {
						want = max(want, r)
					}
				}
				var have time.Duration
				for _, e := range got {
					if e.Protocol == proto && e.Port == port && e.From.Is4() == a.Is4() &&
						!a.Less(e.From) && !e.To.Less(a) {
						if have != 0 {
							t.Fatalf("%v %v/%d is in two elements", a, proto, port)
						}
						have = e.Timeout
					}
				}
				if have != want {
					t.Fatalf("%v %v/%d: normalized timeout %v, oracle %v\nallows: %+v\ngot: %+v", a, proto, port, have, want, allows, got)
				}
			}
		}
	}
}
