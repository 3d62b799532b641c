package drawbridge_test

import (
	"net/netip"
	"strings"
	"testing"

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
