package drawbridge_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want netip.Prefix
	}{
		{"ipv4 address", "198.51.100.7", netip.MustParsePrefix("198.51.100.7/32")},
		{"ipv6 address", "2001:db8::1", netip.MustParsePrefix("2001:db8::1/128")},
		{"ipv6 address in long form", "2001:0db8:0000:0000:0000:0000:0000:0001", netip.MustParsePrefix("2001:db8::1/128")},
		{"ipv4 cidr", "10.0.0.0/8", netip.MustParsePrefix("10.0.0.0/8")},
		{"ipv4 host prefix", "198.51.100.7/32", netip.MustParsePrefix("198.51.100.7/32")},
		{"ipv4 everything", "0.0.0.0/0", netip.MustParsePrefix("0.0.0.0/0")},
		{"ipv6 cidr", "2001:db8::/32", netip.MustParsePrefix("2001:db8::/32")},
		{"ipv6 host prefix", "2001:db8::1/128", netip.MustParsePrefix("2001:db8::1/128")},
		{"ipv4-mapped address unmapped", "::ffff:198.51.100.7", netip.MustParsePrefix("198.51.100.7/32")},
		{"ipv4-mapped cidr unmapped", "::ffff:10.1.0.0/112", netip.MustParsePrefix("10.1.0.0/16")},
		{"ipv4-mapped host prefix unmapped", "::ffff:10.1.2.3/128", netip.MustParsePrefix("10.1.2.3/32")},
		{"surrounding space", " 10.0.0.0/8 ", netip.MustParsePrefix("10.0.0.0/8")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.ParseSource(tt.in)
			if err != nil {
				t.Fatalf("ParseSource(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseSource(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSourceRejects(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		suggest string // the masked form the error must suggest, if any
	}{
		{"empty", "", ""},
		{"any is not a source", "*", ""},
		{"hostname", "example.com", ""},
		{"ipv4 host bits set", "10.1.2.3/8", "10.0.0.0/8"},
		{"ipv4 host bits set in last octet", "192.0.2.1/24", "192.0.2.0/24"},
		{"ipv6 host bits set", "2001:db8::1/32", "2001:db8::/32"},
		{"ipv4-mapped host bits set", "::ffff:10.1.2.3/112", "10.1.0.0/16"},
		{"ipv4-mapped prefix shorter than the mapping", "::ffff:10.0.0.0/80", ""},
		{"ipv4 prefix too long", "10.0.0.0/33", ""},
		{"ipv6 prefix too long", "2001:db8::/129", ""},
		{"negative prefix length", "10.0.0.0/-1", ""},
		{"missing prefix length", "10.0.0.0/", ""},
		{"zone on address", "fe80::1%eth0", ""},
		{"zone on cidr", "fe80::1%eth0/128", ""},
		{"truncated ipv4", "10.0.0", ""},
		{"ipv4 octet too large", "10.0.0.256", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.ParseSource(tt.in)
			if err == nil {
				t.Fatalf("ParseSource(%q) = %v, want an error", tt.in, got)
			}
			if tt.suggest != "" && !strings.Contains(err.Error(), tt.suggest) {
				t.Errorf("ParseSource(%q) error %q does not suggest %s", tt.in, err, tt.suggest)
			}
		})
	}
}

func TestParseAllowedSource(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{"any", "*", "*", false},
		{"any with space", " * ", "*", false},
		{"ipv4 address becomes host prefix", "198.51.100.7", "198.51.100.7/32", false},
		{"ipv6 address becomes host prefix", "2001:db8::1", "2001:db8::1/128", false},
		{"cidr", "10.0.0.0/8", "10.0.0.0/8", false},
		{"ipv6 cidr compressed", "2001:0db8:0:0::/32", "2001:db8::/32", false},
		{"mapped unmapped", "::ffff:10.0.0.0/104", "10.0.0.0/8", false},
		{"host bits set", "10.0.0.1/8", "", true},
		{"double star", "**", "", true},
		{"empty", "", "", true},
		{"zone", "fe80::1%eth0", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.ParseAllowedSource(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseAllowedSource(%q) = %q, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseAllowedSource(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseSource(f *testing.F) {
	for _, s := range []string{
		"198.51.100.7", "2001:db8::1", "10.0.0.0/8", "10.1.2.3/8", "0.0.0.0/0", "::/0",
		"::ffff:10.0.0.0/104", "::ffff:10.1.2.3/80", "::ffff:1.2.3.4", "fe80::1%eth0",
		"fe80::1%eth0/64", "*", "", "/", "10.0.0.0/33", "1.2.3.4/-0", " 10.0.0.0/8 ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := d.ParseSource(s)
		if err != nil {
			return
		}
		if !p.IsValid() {
			t.Fatalf("ParseSource(%q) = invalid prefix %v", s, p)
		}
		if p.Masked() != p {
			t.Fatalf("ParseSource(%q) = %v, not canonical (masked %v)", s, p, p.Masked())
		}
		if p.Addr().Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("ParseSource(%q) = %v, zoned or IPv4-mapped", s, p)
		}
		again, err := d.ParseSource(p.String())
		if err != nil {
			t.Fatalf("ParseSource(%q) = %v, whose String does not parse: %v", s, p, err)
		}
		if again != p {
			t.Fatalf("ParseSource(%q) = %v; its String parses to %v", s, p, again)
		}
		allowed, err := d.ParseAllowedSource(s)
		if err != nil || allowed != p.String() {
			t.Fatalf("ParseAllowedSource(%q) = %q, %v; want %q", s, allowed, err, p.String())
		}
	})
}

func TestWideSources(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want bool
	}{
		{"nothing", nil, false},
		{"one address", []string{"198.51.100.7/32"}, false},
		{"a /16", []string{"10.1.0.0/16"}, false},
		{"a /15", []string{"10.0.0.0/15"}, true},
		{"two /17 halves of a /16", []string{"10.1.0.0/17", "10.1.128.0/17"}, false},
		{"two /16s", []string{"10.1.0.0/16", "10.2.0.0/16"}, true},
		{"a /16 and an address inside it", []string{"10.1.0.0/16", "10.1.2.3/32"}, false},
		{"a /16 twice", []string{"10.1.0.0/16", "10.1.0.0/16"}, false},
		{"a /16 and an address outside it", []string{"10.1.0.0/16", "10.2.0.1/32"}, true},
		{"bypass: two IPv4 halves", []string{"0.0.0.0/1", "128.0.0.0/1"}, true},
		{"all of IPv4", []string{"0.0.0.0/0"}, true},
		{"a /48", []string{"2001:db8::/48"}, false},
		{"a /47", []string{"2001:db8::/47"}, true},
		{"two /48s", []string{"2001:db8::/48", "2001:db8:1::/48"}, true},
		{"a /48 and a /16 (separate families)", []string{"2001:db8::/48", "10.1.0.0/16"}, false},
		{"bypass: ::/1", []string{"::/1"}, true},
		{"bypass: NAT64 well-known /96", []string{"64:ff9b::/96"}, true},
		{"NAT64 /112 is a /16 of IPv4", []string{"64:ff9b::a01:0/112"}, false},
		{"NAT64 /111 is a /15 of IPv4", []string{"64:ff9b::a00:0/111"}, true},
		{"NAT64 /112 and the IPv4 /16 it reaches count once", []string{"64:ff9b::a01:0/112", "10.1.0.0/16"}, false},
		{"NAT64 /112 and another IPv4 /16", []string{"64:ff9b::a01:0/112", "10.2.0.0/16"}, true},
		{"NAT64 local-use /48", []string{"64:ff9b:1::/48"}, true},
		{"NAT64 local-use /64", []string{"64:ff9b:1::/64"}, true},
		{"NAT64 local-use host", []string{"64:ff9b:1::a01:203/128"}, false},
		{"bypass: IPv4-compatible ::/96", []string{"::/96"}, true},
		{"IPv4-mapped /96", []string{"::ffff:0:0/96"}, true},
		{"IPv4-mapped /112", []string{"::ffff:a01:0/112"}, false},
		{"a /64 that contains ::/96", []string{"::/64"}, true},
		{"NAT64 /96 inside a wider IPv6 prefix", []string{"64:ff9b::/32"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []netip.Prefix
			for _, s := range tt.in {
				ps = append(ps, netip.MustParsePrefix(s))
			}
			got, why := d.WideSources(ps)
			if got != tt.want {
				t.Errorf("WideSources(%v) = %v (%q), want %v", tt.in, got, why, tt.want)
			}
			if got && why == "" {
				t.Errorf("WideSources(%v): no reason given", tt.in)
			}
		})
	}
}

func TestCheckLimitsAgainstRules(t *testing.T) {
	deny := d.Limits{DenyAnySource: true}
	rules := func(srcs ...[]string) []d.PortRule {
		var out []d.PortRule
		for i, s := range srcs {
			out = append(out, d.PortRule{Port: uint16(22 + i), Protocol: d.TCP, AllowedSources: s, MaxDuration: d.Duration(time.Hour)})
		}
		return out
	}
	tests := []struct {
		name      string
		limits    d.Limits
		rules     []d.PortRule
		wantField string // "" for no error
	}{
		{"any source allowed without the limit", d.Limits{}, rules([]string{"*"}), ""},
		{"any source", deny, rules([]string{"*"}), "rules[0].allowed_sources"},
		{"narrow", deny, rules([]string{"203.0.113.0/24"}), ""},
		{"two halves of IPv4", deny, rules([]string{"0.0.0.0/1", "128.0.0.0/1"}), "rules[0].allowed_sources"},
		{"::/1", deny, rules([]string{"::/1"}), "rules[0].allowed_sources"},
		{"NAT64", deny, rules([]string{"64:ff9b::/96"}), "rules[0].allowed_sources"},
		{"IPv4-compatible", deny, rules([]string{"::/96"}), "rules[0].allowed_sources"},
		{"a /16 per rule, two rules, different /16s", deny, rules([]string{"10.1.0.0/16"}, []string{"10.2.0.0/16"}), "rules[1].allowed_sources"},
		{"the same /16 on two rules", deny, rules([]string{"10.1.0.0/16"}, []string{"10.1.0.0/16"}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.CheckLimitsAgainstRules(tt.limits, tt.rules)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("CheckLimitsAgainstRules: %v", err)
				}
				return
			}
			if e := d.AsError(err); e == nil || e.Kind != d.Invalid || e.Field != tt.wantField {
				t.Fatalf("CheckLimitsAgainstRules = %v, want Invalid on %s", err, tt.wantField)
			}
		})
	}
}
