// Package inventory describes the host an agent runs on: its name, operating
// system, global addresses and listening sockets, as reported to the server
// so that people can see which ports a machine actually offers.
//
// The parsers ([ParseProcNet], [ParseOSRelease]) are pure and tested with
// fixtures captured from a real kernel; [Collect] is the thin part that reads
// the live system. Collecting is read-only and needs no privileges.
package inventory

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Listener is a socket that accepts traffic: a TCP socket in LISTEN state or
// an unconnected, bound UDP socket.
type Listener struct {
	Protocol string     `json:"protocol"` // "tcp" or "udp"
	Address  netip.Addr `json:"address"`  // local address; unspecified (0.0.0.0, ::) for all addresses
	Port     uint16     `json:"port"`
}

// Inventory is what an agent reports about its host.
type Inventory struct {
	Hostname     string `json:"hostname"`
	OS           string `json:"os"`           // runtime.GOOS, "linux"
	Distribution string `json:"distribution"` // PRETTY_NAME from os-release, e.g. "Debian GNU/Linux 12 (bookworm)"
	Kernel       string `json:"kernel"`       // kernel release (uname -r)
	// Addresses are the global-scope addresses (IPv4 and IPv6, including
	// private ranges and unique local addresses; no loopback, link-local or
	// multicast) of interfaces that are up, sorted, without duplicates.
	Addresses []netip.Prefix `json:"addresses"`
	// Listening holds TCP sockets in LISTEN state and unconnected bound UDP
	// sockets, over IPv4 and IPv6, sorted by protocol, port and address,
	// without duplicates.
	Listening []Listener `json:"listening"`
}

// Socket states in /proc/net/{tcp,udp}[6], from include/net/tcp_states.h.
const (
	stateListen = 0x0A // TCP_LISTEN
	stateClose  = 0x07 // TCP_CLOSE: for UDP, bound but not connected
)

// ParseProcNet parses the contents of /proc/net/tcp, tcp6, udp or udp6 and
// returns the listening sockets: for proto "tcp" those in LISTEN state, for
// "udp" those bound to a port and not connected. v6 selects the IPv6 format.
//
// The kernel prints each address as 32-bit words in host byte order;
// ParseProcNet assumes the file comes from the host it runs on. IPv4-mapped
// IPv6 addresses (::ffff:a.b.c.d) are returned as plain IPv4 addresses. The
// result is sorted by port and address, without duplicates. It returns an
// error for a line it cannot parse, naming the line.
func ParseProcNet(r io.Reader, proto string, v6 bool) ([]Listener, error) {
	return parseProcNet(r, proto, v6, binary.NativeEndian)
}

// parseProcNet is ParseProcNet for a file written by a host with the given
// byte order, so that fixtures from little-endian hosts test the same on
// every host.
func parseProcNet(r io.Reader, proto string, v6 bool, order binary.ByteOrder) ([]Listener, error) {
	var want uint64
	switch proto {
	case "tcp":
		want = stateListen
	case "udp":
		want = stateClose
	default:
		return nil, fmt.Errorf("inventory: protocol %q, want tcp or udp", proto)
	}
	var out []Listener
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] == "sl" {
			continue
		}
		if len(fields) < 4 {
			return nil, fmt.Errorf("inventory: %s line %d: %d fields, want at least 4", proto, n, len(fields))
		}
		st, err := strconv.ParseUint(fields[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("inventory: %s line %d: state %q: %w", proto, n, fields[3], errSyntax)
		}
		addr, port, err := parseSocketAddr(fields[1], v6, order)
		if err != nil {
			return nil, fmt.Errorf("inventory: %s line %d: local address %q: %w", proto, n, fields[1], err)
		}
		if st != want || port == 0 {
			continue
		}
		out = append(out, Listener{Protocol: proto, Address: addr, Port: port})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("inventory: %s: %w", proto, err)
	}
	return sortListeners(out), nil
}

var errSyntax = errors.New("invalid syntax")

// parseSocketAddr decodes "0100007F:0016" (IPv4) or a 32-digit IPv6 form.
func parseSocketAddr(s string, v6 bool, order binary.ByteOrder) (netip.Addr, uint16, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	size := 4
	if v6 {
		size = 16
	}
	if !ok || len(hexAddr) != 2*size || len(hexPort) != 4 {
		return netip.Addr{}, 0, errSyntax
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, errSyntax
	}
	b := make([]byte, size)
	for i := 0; i < size; i += 4 {
		w, err := strconv.ParseUint(hexAddr[2*i:2*i+8], 16, 32)
		if err != nil {
			return netip.Addr{}, 0, errSyntax
		}
		order.PutUint32(b[i:], uint32(w))
	}
	addr, _ := netip.AddrFromSlice(b) // len(b) is 4 or 16
	return addr.Unmap(), uint16(port), nil
}

// sortListeners sorts by protocol, port and address and removes duplicates.
func sortListeners(ls []Listener) []Listener {
	slices.SortFunc(ls, func(a, b Listener) int {
		return cmp.Or(
			cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.Port, b.Port),
			a.Address.Compare(b.Address),
		)
	})
	return slices.Compact(ls)
}

// ParseOSRelease parses an os-release(5) file into its variables. Blank lines,
// comments and lines that are not KEY=value are skipped. Values may be
// enclosed in double or single quotes; in double-quoted and unquoted values a
// backslash escapes the next character, as in the shell.
func ParseOSRelease(r io.Reader) map[string]string {
	vars := make(map[string]string)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || !validKey(key) {
			continue
		}
		vars[key] = unquote(strings.TrimSpace(val))
	}
	return vars
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// globalPrefixes converts interface addresses to prefixes and keeps the
// global unicast ones (which include private IPv4 ranges and IPv6 unique
// local addresses, as the kernel's "scope global" does), sorted, without
// duplicates.
func globalPrefixes(addrs []net.Addr) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !ip.IsGlobalUnicast() {
			continue
		}
		ones, bits := ipn.Mask.Size()
		if bits == 0 {
			// A non-canonical mask; report the address alone.
			ones = ip.BitLen()
		} else if bits == 128 && ip.Is4() {
			ones -= 96
		}
		if ones < 0 || ones > ip.BitLen() {
			continue
		}
		// Keep the host address, not the network: the server wants to know
		// where the machine is reachable.
		out = append(out, netip.PrefixFrom(ip, ones))
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return slices.Compact(out)
}
