//go:build linux

package firewall

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"

	"github.com/drawbridge/drawbridge/internal/netlab"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// newHost creates a lab with hosts named names; every firewall test runs in
// such namespaces, never in the caller's.
func newHosts(t testing.TB, names ...string) []*netlab.Host {
	t.Helper()
	netlab.Require(t, "netns", "nft")
	lab := netlab.New(t)
	var hs []*netlab.Host
	for _, n := range names {
		hs = append(hs, lab.Host(n))
	}
	return hs
}

func open(t testing.TB, h *netlab.Host) *Firewall {
	t.Helper()
	f, err := Open(Options{NetNS: h.NetNSFd()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func apply(t testing.TB, f *Firewall, s State) Stats {
	t.Helper()
	st, err := f.Apply(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func nft(t testing.TB, h *netlab.Host, args ...string) string {
	t.Helper()
	out, err := h.Run(t.Context(), "nft", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// echoServer listens on all addresses of h (IPv4 and IPv6) and echoes.
func echoServer(t testing.TB, h *netlab.Host) uint16 {
	t.Helper()
	ln := h.Listen(t, "tcp", "[::]:0")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func dial(t testing.TB, from *netlab.Host, to netip.Addr, port uint16, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	c, err := from.Dial(ctx, "tcp", netip.AddrPortFrom(to, port).String())
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// blockedTimeout is how long a dial may hang before we call the port
// blocked: dropped SYNs never get an answer, while in a namespace an open
// port answers in microseconds.
const blockedTimeout = 300 * time.Millisecond

func mustBlock(t testing.TB, from *netlab.Host, to netip.Addr, port uint16) {
	t.Helper()
	if c, err := dial(t, from, to, port, blockedTimeout); err == nil {
		c.Close()
		t.Fatalf("%s → %s port %d: connected, want blocked", from.Name, to, port)
	}
}

func mustConnect(t testing.TB, from *netlab.Host, to netip.Addr, port uint16) net.Conn {
	t.Helper()
	c, err := dial(t, from, to, port, 2*time.Second)
	if err != nil {
		t.Fatalf("%s → %s port %d: %v, want connected", from.Name, to, port, err)
	}
	echo(t, c)
	return c
}

// echo checks that data flows both ways on c.
func echo(t testing.TB, c net.Conn) {
	t.Helper()
	if err := tryEcho(c); err != nil {
		t.Fatalf("echo on %s: %v", c.LocalAddr(), err)
	}
}

func tryEcho(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping" {
		return fmt.Errorf("echo %q", buf)
	}
	return nil
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pfx(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

var expiresRE = regexp.MustCompile(`expires [0-9hdms]+`)

func TestGolden(t *testing.T) {
	hs := newHosts(t, "server")
	f := open(t, hs[0])
	// Remaining times count from the Apply call: on a frozen clock the
	// timeouts are exactly as given, however long a loaded machine takes.
	frozen := time.Now()
	f.now = func() time.Time { return frozen }
	apply(t, f, State{
		Protected: []Port{{TCP, 22}, {TCP, 443}, {UDP, 53}, {TCP, 22}},
		Allows: []Allow{
			{netip.MustParsePrefix("198.18.0.0/24"), TCP, 22, 10 * time.Minute},
			{netip.MustParsePrefix("198.18.0.5/32"), TCP, 22, time.Hour},
			{netip.MustParsePrefix("198.18.0.2/32"), UDP, 53, 5 * time.Minute},
			{netip.MustParsePrefix("2001:2::/64"), TCP, 443, 30 * time.Minute},
			{netip.MustParsePrefix("2001:2::9/128"), TCP, 22, 90 * time.Second},
		},
	})
	got := expiresRE.ReplaceAllString(nft(t, hs[0], "list", "table", "inet", "drawbridge"), "expires X")
	golden := filepath.Join("testdata", "ruleset.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("nft list table mismatch (-want +got), regenerate with -update:\n%s", diff)
	}
}

func TestSupported(t *testing.T) {
	hs := newHosts(t, "server")
	if err := Supported(hs[0].NetNSFd()); err != nil {
		t.Fatal(err)
	}
	if out := nft(t, hs[0], "list", "tables"); out != "" {
		t.Errorf("probe left tables behind: %q", out)
	}
}

// TestEnforcement walks a grant's life on a real kernel: protect, allow one
// client, expire with no agent action, IPv6, terminate, remove; and checks
// that an unrelated table is never touched.
func TestEnforcement(t *testing.T) {
	hs := newHosts(t, "server", "client", "other")
	server, client, other := hs[0], hs[1], hs[2]
	port := echoServer(t, server)
	otherTable := `table inet other {
	chain c {
		type filter hook input priority filter; policy accept;
		tcp dport 9 accept
	}
}
`
	cmd := server.Command(t.Context(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(otherTable)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	checkOther := func() {
		t.Helper()
		if got := nft(t, server, "list", "table", "inet", "other"); got != otherTable {
			t.Errorf("table inet other changed:\n%s", got)
		}
	}
	f := open(t, server)

	// No state: reachable.
	mustConnect(t, client, server.IPv4, port)

	// Protected: blocked for everyone.
	protected := []Port{{TCP, port}}
	apply(t, f, State{Protected: protected})
	mustBlock(t, client, server.IPv4, port)
	mustBlock(t, client, server.IPv6, port)
	checkOther()

	// A short grant for the client: open for it only, and closed for new
	// connections by the kernel timeout alone, while an established
	// connection keeps working.
	const short = 1500 * time.Millisecond
	start := time.Now()
	apply(t, f, State{Protected: protected, Allows: []Allow{{pfx(client.IPv4), TCP, port, short}}})
	established := mustConnect(t, client, server.IPv4, port)
	mustBlock(t, other, server.IPv4, port)
	mustBlock(t, client, server.IPv6, port)
	eventually(t, 5*time.Second, "grant expiry", func() bool {
		c, err := dial(t, client, server.IPv4, port, blockedTimeout)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if el := time.Since(start); el < short-100*time.Millisecond {
		t.Errorf("grant closed after %v, before its %v timeout", el, short)
	}
	echo(t, established)

	// IPv6 grant.
	allow6 := []Allow{{pfx(client.IPv6), TCP, port, time.Minute}}
	apply(t, f, State{Protected: protected, Allows: allow6})
	c6 := mustConnect(t, client, server.IPv6, port)
	mustBlock(t, other, server.IPv6, port)

	// Revoke, then terminate: the established IPv6 connection is cut.
	apply(t, f, State{Protected: protected})
	echo(t, c6) // revocation alone keeps established connections
	n, err := f.Terminate(pfx(client.IPv6), TCP, port)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Fatalf("Terminate deleted %d flows, want ≥ 1", n)
	}
	if err := tryEcho(c6); err == nil {
		t.Fatal("data still flows on a terminated connection")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Log("terminated connection timed out instead of being reset")
	}
	echo(t, established) // other flows untouched
	checkOther()

	// Remove: no table, reachable again, other table intact.
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	if out := nft(t, server, "list", "tables"); strings.Contains(out, "drawbridge") {
		t.Errorf("table still present after Remove: %q", out)
	}
	mustConnect(t, other, server.IPv4, port)
	if err := f.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	checkOther()
}

// kernelAllows reads the allow sets back from the kernel.
func kernelAllows(t testing.TB, f *Firewall) map[string]time.Duration {
	t.Helper()
	o := newObjects()
	out := map[string]time.Duration{}
	for _, s := range []*nftables.Set{o.allow4, o.allow6} {
		els, err := f.conn.GetSetElements(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range els {
			n := len(e.Key) - 8
			from, _ := netip.AddrFromSlice(e.Key[:n])
			to, _ := netip.AddrFromSlice(e.KeyEnd[:n])
			port := int(e.Key[n+4])<<8 | int(e.Key[n+5])
			out[fmt.Sprintf("%s-%s %s/%d", from, to, Protocol(e.Key[n]), port)] = e.Expires
		}
	}
	return out
}

// checkCache compares the Firewall's element cache with the kernel.
func checkCache(t testing.TB, f *Firewall) {
	t.Helper()
	if f.cache == nil {
		return
	}
	o := newObjects()
	for _, s := range []*nftables.Set{o.protected, o.allow4, o.allow6} {
		before := time.Now()
		els, err := f.conn.GetSetElements(s)
		if err != nil {
			t.Fatal(err)
		}
		after := time.Now() // the kernel read its clock in between, however long the dump took
		if len(els) != len(f.cache[s.Name]) {
			t.Errorf("set %s: kernel has %d elements, cache %d", s.Name, len(els), len(f.cache[s.Name]))
		}
		for _, e := range els {
			c, ok := f.cache[s.Name][elemKey(&e)]
			if !ok {
				t.Errorf("set %s: kernel element %x not cached", s.Name, e.Key)
				continue
			}
			if s.HasTimeout && (e.Expires > c.deadline.Sub(before)+250*time.Millisecond || e.Expires < c.deadline.Sub(after)-250*time.Millisecond) {
				t.Errorf("set %s: element %x expires in %v, cache says %v to %v", s.Name, e.Key, e.Expires, c.deadline.Sub(after), c.deadline.Sub(before))
			}
		}
	}
}

func TestDriftRepair(t *testing.T) {
	hs := newHosts(t, "server", "client", "other")
	server, client, other := hs[0], hs[1], hs[2]
	port := echoServer(t, server)
	f := open(t, server)
	deadline := time.Now().Add(time.Minute)
	state := func() State {
		return State{
			Protected: []Port{{TCP, port}},
			Allows:    []Allow{{pfx(client.IPv4), TCP, port, time.Until(deadline)}},
		}
	}
	apply(t, f, state())
	key := fmt.Sprintf("%s-%s tcp/%d", client.IPv4, client.IPv4, port)
	p := strconv.Itoa(int(port))

	checkRepaired := func(t *testing.T, wantRebuilt bool) {
		t.Helper()
		st := apply(t, f, state())
		if st.Rebuilt != wantRebuilt {
			t.Errorf("Rebuilt = %v, want %v (stats %+v)", st.Rebuilt, wantRebuilt, st)
		}
		got := kernelAllows(t, f)
		if len(got) != 1 {
			t.Fatalf("kernel allows = %v, want only %s", got, key)
		}
		exp, ok := got[key]
		if !ok {
			t.Fatalf("kernel allows = %v, want %s", got, key)
		}
		if left := time.Until(deadline); exp > left+expiryTolerance || exp < left-2*expiryTolerance {
			t.Errorf("grant expires in %v, want its remaining %v", exp, left)
		}
		if st := apply(t, f, state()); st.Changed() {
			t.Errorf("Apply after repair changed %+v", st)
		}
		checkCache(t, f)
		mustConnect(t, client, server.IPv4, port)
		mustBlock(t, other, server.IPv4, port)
	}

	t.Run("table deleted", func(t *testing.T) {
		nft(t, server, "delete", "table", "inet", "drawbridge")
		mustConnect(t, other, server.IPv4, port)
		checkRepaired(t, true)
	})
	t.Run("rule deleted", func(t *testing.T) {
		out := nft(t, server, "-a", "list", "chain", "inet", "drawbridge", "guard")
		m := regexp.MustCompile(`drop comment "drawbridge: drop" # handle (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no drop rule in:\n%s", out)
		}
		nft(t, server, "delete", "rule", "inet", "drawbridge", "guard", "handle", m[1])
		mustConnect(t, other, server.IPv4, port)
		checkRepaired(t, true)
	})
	t.Run("rule edited", func(t *testing.T) {
		out := nft(t, server, "-a", "list", "chain", "inet", "drawbridge", "input")
		m := regexp.MustCompile(`jump guard comment "drawbridge: protected ports" # handle (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no jump rule in:\n%s", out)
		}
		nft(t, server, "replace", "rule", "inet", "drawbridge", "input", "handle", m[1],
			"meta", "l4proto", ".", "th", "dport", "@protected", "accept", "comment", `"drawbridge: protected ports"`)
		checkRepaired(t, true)
	})
	t.Run("table set dormant", func(t *testing.T) {
		nft(t, server, "add", "table", "inet", "drawbridge", "{ flags dormant; }")
		mustConnect(t, other, server.IPv4, port)
		checkRepaired(t, true)
	})
	t.Run("grant outlives its end by a fraction of a second", func(t *testing.T) {
		// Ask for 600ms less than the kernel has: under the old symmetric
		// 1s tolerance this element was kept and outlived its end.
		short := State{Protected: []Port{{TCP, port}}, Allows: []Allow{{pfx(client.IPv4), TCP, port, time.Until(deadline) - 600*time.Millisecond}}}
		if st := apply(t, f, short); st.Replaced != 1 {
			t.Fatalf("a shorter remaining time must replace the element, stats %+v", st)
		}
		apply(t, f, state()) // back to the full grant for the next cases
	})
	t.Run("rogue element", func(t *testing.T) {
		nft(t, server, "add", "element", "inet", "drawbridge", "allow4",
			"{ "+other.IPv4.String()+" . tcp . "+p+" timeout 1h }")
		mustConnect(t, other, server.IPv4, port)
		checkRepaired(t, false)
	})
	t.Run("grant extended", func(t *testing.T) {
		el := "{ " + client.IPv4.String() + " . tcp . " + p + " }"
		nft(t, server, "delete", "element", "inet", "drawbridge", "allow4", el)
		nft(t, server, "add", "element", "inet", "drawbridge", "allow4",
			"{ "+client.IPv4.String()+" . tcp . "+p+" timeout 1d }")
		checkRepaired(t, false)
	})
	t.Run("protected port removed", func(t *testing.T) {
		nft(t, server, "delete", "element", "inet", "drawbridge", "protected", "{ tcp . "+p+" }")
		mustConnect(t, other, server.IPv4, port)
		checkRepaired(t, false)
	})
}

func TestIdempotent(t *testing.T) {
	hs := newHosts(t, "server")
	f := open(t, hs[0])
	deadline := time.Now().Add(time.Hour)
	state := func() State {
		left := time.Until(deadline)
		return State{
			Protected: []Port{{TCP, 22}, {UDP, 53}},
			Allows: []Allow{
				{netip.MustParsePrefix("198.18.0.0/24"), TCP, 22, left / 2},
				{netip.MustParsePrefix("198.18.0.7/32"), TCP, 22, left},
				{netip.MustParsePrefix("2001:2::/64"), UDP, 53, left},
			},
		}
	}
	st := apply(t, f, state())
	if want := (Stats{Added: 6, Rebuilt: true}); st != want {
		t.Errorf("first Apply = %+v, want %+v", st, want)
	}
	for i := range 3 {
		if st := apply(t, f, state()); st.Changed() {
			t.Errorf("Apply %d = %+v, want no change", i+2, st)
		}
	}
	// The shortcut: nobody else committed, so the generation is the one
	// our last commit produced.
	gen, err := f.conn.GetGen()
	if err != nil {
		t.Fatal(err)
	}
	if !f.genKnown || gen.ID != f.gen {
		t.Errorf("generation %d, known %v %d", gen.ID, f.genKnown, f.gen)
	}
	// A change elsewhere in the ruleset forces a full check, still no change.
	nft(t, hs[0], "add", "table", "inet", "other")
	if st := apply(t, f, state()); st.Changed() {
		t.Errorf("Apply after foreign commit = %+v, want no change", st)
	}
	checkCache(t, f)
	// One grant gone, one timeout changed.
	s := state()
	s.Allows = s.Allows[1:]
	s.Allows[0].Remaining -= 10 * time.Minute
	if st, want := apply(t, f, s), (Stats{Removed: 2, Replaced: 1}); st != want {
		// The /24 split around .7 was 3 elements; now .7 alone remains.
		t.Errorf("Apply = %+v, want %+v", st, want)
	}
	checkCache(t, f)
	if st := apply(t, f, s); st.Changed() {
		t.Errorf("Apply = %+v, want no change", st)
	}
}

// TestOverlap checks that overlapping grants (a /24 and a /32 inside it, with
// different timeouts) are accepted by the kernel and each expires on time.
func TestOverlap(t *testing.T) {
	hs := newHosts(t, "server", "client", "other")
	server, client, other := hs[0], hs[1], hs[2]
	port := echoServer(t, server)
	f := open(t, server)
	net24 := netip.MustParsePrefix("198.18.0.0/24")
	net64 := netip.MustParsePrefix("2001:2::/64")
	apply(t, f, State{
		Protected: []Port{{TCP, port}},
		Allows: []Allow{
			{net24, TCP, port, 1500 * time.Millisecond},
			{pfx(client.IPv4), TCP, port, time.Minute},
			{net64, TCP, port, time.Minute},
			{pfx(client.IPv6), TCP, port, 1500 * time.Millisecond},
		},
	})
	if got := len(kernelAllows(t, f)); got != 4 {
		t.Errorf("kernel has %d allow elements, want 4 (3 IPv4 ranges, 1 IPv6)", got)
	}
	mustConnect(t, other, server.IPv4, port)
	mustConnect(t, client, server.IPv4, port)
	mustConnect(t, client, server.IPv6, port)
	eventually(t, 5*time.Second, "the /24 to expire", func() bool {
		c, err := dial(t, other, server.IPv4, port, blockedTimeout)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	mustConnect(t, client, server.IPv4, port)
	mustConnect(t, client, server.IPv6, port) // the /64 outlives the /128
	mustConnect(t, other, server.IPv6, port)
}

// TestLarge applies more elements than fit one batch.
// TestLarge applies more elements than fit in one batch. The firewall's
// clock is frozen, so that whether an element's timeout is kept or reset
// depends only on the diff, never on how long the applies take: a second
// Apply of the same State must change nothing, however slow the machine.
func TestLarge(t *testing.T) {
	hs := newHosts(t, "server")
	f := open(t, hs[0])
	frozen := time.Now()
	f.now = func() time.Time { return frozen }
	s := manyAllowsLeft(3*maxBatchElements+17, time.Hour)
	st := apply(t, f, s)
	if st.Added != len(s.Allows)+1 || !st.Rebuilt {
		t.Errorf("first Apply = %+v", st)
	}
	if got := len(kernelAllows(t, f)); got != len(s.Allows) {
		t.Errorf("kernel has %d elements, want %d", got, len(s.Allows))
	}
	checkCacheKeys(t, f)
	if st := apply(t, f, manyAllowsLeft(len(s.Allows), time.Hour)); st.Changed() {
		t.Errorf("second Apply = %+v", st)
	}
	// One element's end moved by more than the tolerance: only it is reset.
	s2 := manyAllowsLeft(len(s.Allows), time.Hour)
	s2.Allows[5].Remaining -= 2 * expiryTolerance
	if st := apply(t, f, s2); st != (Stats{Replaced: 1}) {
		t.Errorf("Apply with one end moved = %+v, want 1 replaced", st)
	}
	if st := apply(t, f, State{Protected: s.Protected}); st.Removed != len(s.Allows) {
		t.Errorf("clearing Apply = %+v", st)
	}
}

// checkCacheKeys checks that the cache holds exactly the kernel's elements
// (not their deadlines: for a firewall on a frozen clock).
func checkCacheKeys(t testing.TB, f *Firewall) {
	t.Helper()
	o := newObjects()
	for _, s := range []*nftables.Set{o.protected, o.allow4, o.allow6} {
		els, err := f.conn.GetSetElements(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(els) != len(f.cache[s.Name]) {
			t.Errorf("set %s: kernel has %d elements, cache %d", s.Name, len(els), len(f.cache[s.Name]))
		}
		for _, e := range els {
			if _, ok := f.cache[s.Name][elemKey(&e)]; !ok {
				t.Errorf("set %s: kernel element %x not cached", s.Name, e.Key)
			}
		}
	}
}

// manyAllows returns n grants for distinct addresses in 198.18.0.0/15 that
// end at distinct times after deadline (so normalize cannot merge them).
func manyAllows(n int, deadline time.Time) State {
	return manyAllowsLeft(n, time.Until(deadline))
}

// manyAllowsLeft is manyAllows with the first grant's remaining time given.
func manyAllowsLeft(n int, left time.Duration) State {
	s := State{Protected: []Port{{TCP, 22}}}
	base := netip.MustParseAddr("198.18.0.0").As4()
	for i := range n {
		a := base
		a[1] += byte(i >> 16)
		a[2] = byte(i >> 8)
		a[3] = byte(i)
		s.Allows = append(s.Allows, Allow{netip.PrefixFrom(netip.AddrFrom4(a), 32), TCP, 22,
			left + time.Duration(i)*time.Millisecond})
	}
	return s
}

// BenchmarkApply measures Apply with n grants: into an empty namespace
// (initial), again with the same grants (noop), and with one grant added or
// removed on top of n (one-change). Remaining is recomputed against fixed
// deadlines outside the timer, as the agent does.
func BenchmarkApply(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			hs := newHosts(b, "server")
			f := open(b, hs[0])
			deadline := time.Now().Add(time.Hour)
			b.Run("initial", func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					if err := f.Remove(); err != nil {
						b.Fatal(err)
					}
					s := manyAllows(n, deadline)
					b.StartTimer()
					apply(b, f, s)
				}
			})
			b.Run("noop", func(b *testing.B) {
				apply(b, f, manyAllows(n, deadline))
				for b.Loop() {
					b.StopTimer()
					s := manyAllows(n, deadline)
					b.StartTimer()
					if st := apply(b, f, s); st.Changed() {
						b.Fatalf("changed: %+v", st)
					}
				}
			})
			b.Run("one-change", func(b *testing.B) {
				apply(b, f, manyAllows(n, deadline))
				extra := Allow{netip.MustParsePrefix("2001:2::1/128"), TCP, 22, time.Hour}
				i := 0
				for b.Loop() {
					b.StopTimer()
					s := manyAllows(n, deadline)
					if i%2 == 0 {
						s.Allows = append(s.Allows, extra)
					}
					i++
					b.StartTimer()
					if st := apply(b, f, s); st.Added+st.Removed+st.Replaced != 1 {
						b.Fatalf("stats %+v", st)
					}
				}
			})
			if n > 1000 {
				return // replacing pipapo elements is slow, see the report
			}
			b.Run("replace-all", func(b *testing.B) {
				i := 0
				for b.Loop() {
					b.StopTimer()
					i++
					s := manyAllows(n, deadline.Add(time.Duration(i%2)*10*time.Second))
					b.StartTimer()
					if st := apply(b, f, s); st.Replaced != n {
						b.Fatalf("stats %+v", st)
					}
				}
			})
		})
	}
}
