package inventory

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func l(proto, addr string, port uint16) Listener {
	return Listener{Protocol: proto, Address: netip.MustParseAddr(addr), Port: port}
}

// The fixtures were captured from /proc/net on an x86-64 kernel (6.x), with
// sockets opened for the purpose, partly in a network namespace holding
// 2001:db8:0:1::1234:5678 and 192.0.2.17.
func TestParseProcNet(t *testing.T) {
	tests := []struct {
		file  string
		proto string
		v6    bool
		want  []Listener
	}{
		{"tcp", "tcp", false, []Listener{
			l("tcp", "0.0.0.0", 22),
			l("tcp", "127.0.0.1", 631),
			l("tcp", "0.0.0.0", 2024),
			l("tcp", "192.0.2.17", 8080),
		}},
		{"tcp6", "tcp", true, []Listener{
			l("tcp", "::", 22),
			l("tcp", "::1", 5432),
			l("tcp", "127.0.0.1", 8443), // bound to ::ffff:127.0.0.1
			l("tcp", "2001:db8:0:1::1234:5678", 443),
		}},
		{"udp", "udp", false, []Listener{
			l("udp", "127.0.0.53", 53),
			l("udp", "0.0.0.0", 68),
			// 127.0.0.1:44674 is connected to 127.0.0.1:9: not a listener.
		}},
		{"udp6", "udp", true, []Listener{
			l("udp", "::", 5353),
			l("udp", "2001:db8:0:1::1234:5678", 51820),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseProcNet(bytes.NewReader(data), tt.proto, tt.v6, binary.LittleEndian)
			if err != nil {
				t.Fatal(err)
			}
			want := sortListeners(tt.want) // listed above in file order
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseProcNetBigEndian(t *testing.T) {
	// The same socket as "0100007F:0277" on a little-endian host.
	in := "  sl  local_address rem_address   st\n   0: 7F000001:0277 00000000:0000 0A\n"
	got, err := parseProcNet(strings.NewReader(in), "tcp", false, binary.BigEndian)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Listener{l("tcp", "127.0.0.1", 631)}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseProcNetDeduplicates(t *testing.T) {
	in := "   0: 00000000:0016 00000000:0000 0A\n   1: 00000000:0016 00000000:0000 0A\n"
	got, err := parseProcNet(strings.NewReader(in), "tcp", false, binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("got %v, want one listener", got)
	}
}

func TestParseProcNetErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		proto string
		v6    bool
	}{
		{"bad protocol", "", "sctp", false},
		{"too few fields", "0: 00000000:0016\n", "tcp", false},
		{"v6 address in v4 file", "0: 00000000000000000000000000000000:0016 0 0A\n", "tcp", false},
		{"v4 address in v6 file", "0: 00000000:0016 0 0A\n", "tcp", true},
		{"no port", "0: 00000000 0 0A\n", "tcp", false},
		{"bad hex", "0: 0000000G:0016 0 0A\n", "tcp", false},
		{"bad state", "0: 00000000:0016 0 XY\n", "tcp", false},
		{"signed hex", "0: +0000000:0016 0 0A\n", "tcp", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ParseProcNet(strings.NewReader(tt.in), tt.proto, tt.v6); err == nil {
				t.Errorf("ParseProcNet = %v, want error", got)
			}
		})
	}
}

func FuzzParseProcNet(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, strings.TrimSuffix(name, "6"), strings.HasSuffix(name, "6"))
	}
	f.Add([]byte("0: :: 0 0A"), "tcp", true)
	f.Fuzz(func(t *testing.T, data []byte, proto string, v6 bool) {
		ls, err := ParseProcNet(bytes.NewReader(data), proto, v6)
		if err != nil {
			return
		}
		for _, l := range ls {
			if l.Protocol != proto || l.Port == 0 || !l.Address.IsValid() || l.Address.Is4In6() {
				t.Errorf("invalid listener %+v", l)
			}
		}
	})
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		file string
		want map[string]string
	}{
		{"os-release-debian", map[string]string{
			"PRETTY_NAME":      "Debian GNU/Linux 12 (bookworm)",
			"NAME":             "Debian GNU/Linux",
			"VERSION_ID":       "12",
			"VERSION":          "12 (bookworm)",
			"VERSION_CODENAME": "bookworm",
			"ID":               "debian",
			"HOME_URL":         "https://www.debian.org/",
			"SUPPORT_URL":      "https://www.debian.org/support",
			"BUG_REPORT_URL":   "https://bugs.debian.org/",
		}},
		{"os-release-quoted", map[string]string{
			"NAME":        "Example Linux",
			"PRETTY_NAME": `Example "Quoted" Linux $5 \ edition`,
			"ID":          "example",
			"ID_LIKE":     "rhel fedora",
			"VERSION_ID":  "1.2",
			"EMPTY":       "",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if diff := cmp.Diff(tt.want, ParseOSRelease(f)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestGlobalPrefixes(t *testing.T) {
	ipnet := func(s string) net.Addr {
		t.Helper()
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	in := []net.Addr{
		ipnet("127.0.0.1/8"),
		ipnet("::1/128"),
		ipnet("fe80::1/64"),
		ipnet("169.254.1.1/16"),
		ipnet("192.0.2.17/24"),
		ipnet("10.0.0.5/8"),
		ipnet("2001:db8::5/64"),
		ipnet("fd00::1/48"),
		ipnet("10.0.0.5/8"), // on two interfaces
		&net.IPAddr{IP: net.ParseIP("192.0.2.99")},
		&net.IPNet{IP: net.ParseIP("198.51.100.1"), Mask: net.CIDRMask(120, 128)},
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.5/8"),
		netip.MustParsePrefix("192.0.2.17/24"),
		netip.MustParsePrefix("198.51.100.1/24"),
		netip.MustParsePrefix("2001:db8::5/64"),
		netip.MustParsePrefix("fd00::1/48"),
	}
	got := globalPrefixes(in)
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// TestCollect reads the live system, read-only.
func TestCollect(t *testing.T) {
	inv, err := Collect(t.Context())
	if runtime.GOOS != "linux" {
		if err == nil {
			t.Fatal("Collect succeeded on a system other than Linux")
		}
		t.Skipf("Collect is Linux only: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if inv.OS != "linux" || inv.Hostname == "" || inv.Kernel == "" {
		t.Errorf("Collect = %+v", inv)
	}
	for _, p := range inv.Addresses {
		if !p.Addr().IsGlobalUnicast() {
			t.Errorf("address %v is not global", p)
		}
	}
	t.Logf("%+v", inv)
}
