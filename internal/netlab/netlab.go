// Package netlab builds throwaway test networks out of Linux network
// namespaces, for tests that need a real kernel: the firewall tests and the
// end-to-end tests of the whole product.
//
// A Lab is one private namespace holding a Linux bridge ("br0"); every Host is
// a namespace of its own whose eth0 is a veth attached to that bridge. Hosts
// get 198.18.0.N/24 and 2001:2::N/64 (the benchmarking ranges, RFC 2544 and
// RFC 5180), N counted from 1. No namespace has a default route, and no link
// is created in the caller's namespace, so test traffic never leaves the lab.
//
// Namespace names are "dbt<pid>x<n>", unique per process; everything is
// deleted by t.Cleanup, also when the test fails. Namespaces left behind by a
// test binary that was killed are removed by the next New once their process
// is gone.
//
// A Lab needs root and the `ip` command (test tier "netns", see package
// testtier); New skips, or fails when DRAWBRIDGE_TEST_REQUIRE lists netns,
// when they are missing. Lab and Host are safe for concurrent use.
package netlab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/drawbridge/drawbridge/internal/testtier"
)

// nsCounter makes namespace names unique within this process.
var nsCounter atomic.Uint32

// Lab is a bridged test network. Create it with New.
type Lab struct {
	t      testing.TB
	bridge string // namespace holding br0

	mu    sync.Mutex
	hosts []*Host
}

// Host is a namespace attached to the lab's bridge.
type Host struct {
	// Name is the short logical name given to Lab.Host.
	Name string
	// NS is the network namespace name, usable with `ip netns exec`.
	NS string
	// IPv4 and IPv6 are the addresses of eth0.
	IPv4, IPv6 netip.Addr

	handle netns.NsHandle
}

// New creates a lab, or skips the test when the "netns" tier's prerequisites
// are missing (see Require). Everything it creates is removed by t.Cleanup.
func New(t testing.TB) *Lab {
	t.Helper()
	testtier.Require(t, testtier.Netns)
	removeStale()
	l := &Lab{t: t, bridge: newNSName()}
	t.Cleanup(l.close)
	if err := addNS(l.bridge); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	for _, args := range [][]string{
		{"-n", l.bridge, "link", "set", "lo", "up"},
		{"-n", l.bridge, "link", "add", "br0", "type", "bridge"},
		{"-n", l.bridge, "link", "set", "br0", "up"},
	} {
		if err := ip(args...); err != nil {
			t.Fatalf("netlab: %v", err)
		}
	}
	return l
}

// Host adds a host namespace to the lab. It fails the test on error.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	l.mu.Lock()
	n := len(l.hosts) + 1
	h := &Host{
		Name:   name,
		NS:     newNSName(),
		IPv4:   netip.AddrFrom4([4]byte{198, 18, 0, byte(n)}),
		IPv6:   netip.AddrFrom16([16]byte{0x20, 0x01, 0, 0x02, 14: byte(n >> 8), 15: byte(n)}),
		handle: -1,
	}
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	if n > 250 {
		l.t.Fatalf("netlab: too many hosts")
	}
	if err := addNS(h.NS); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	port := "h" + strconv.Itoa(n)
	for _, args := range [][]string{
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", l.bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", l.bridge, "link", "set", port, "master", "br0", "up"},
		{"-n", h.NS, "addr", "add", h.IPv4.String() + "/24", "dev", "eth0"},
		{"-n", h.NS, "addr", "add", h.IPv6.String() + "/64", "dev", "eth0", "nodad"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
	} {
		if err := ip(args...); err != nil {
			l.t.Fatalf("netlab: host %s: %v", name, err)
		}
	}
	hd, err := netns.GetFromName(h.NS)
	if err != nil {
		l.t.Fatalf("netlab: open namespace %s: %v", h.NS, err)
	}
	l.mu.Lock()
	h.handle = hd
	l.mu.Unlock()
	return h
}

// close deletes every namespace of the lab; links go with them.
func (l *Lab) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		if h.handle >= 0 {
			_ = h.handle.Close()
			h.handle = -1
		}
		if err := delNS(h.NS); err != nil {
			l.t.Errorf("netlab: %v", err)
		}
	}
	if err := delNS(l.bridge); err != nil {
		l.t.Errorf("netlab: %v", err)
	}
}

// NetNSFd returns a file descriptor referring to the host's namespace, for
// APIs that take one (firewall.Options.NetNS, netlink configs). It stays
// valid until the lab is cleaned up; do not close it.
func (h *Host) NetNSFd() int { return int(h.handle) }

// Command returns a command that runs inside the host's namespace (through
// `ip netns exec`).
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Run runs a command inside the host's namespace and returns its standard
// output; the error includes standard error.
func (h *Host) Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := h.Command(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Do runs fn on an OS thread switched into the host's namespace and switches
// back afterwards. Sockets created by fn stay in the namespace. If switching
// back fails, the thread is left locked so that the runtime discards it.
func (h *Host) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(h.handle); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: enter %s: %w", h.NS, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		return fmt.Errorf("netlab: leave %s: %w", h.NS, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Listen creates a listener inside the host's namespace, closed by t.Cleanup.
// Use port 0 and read the address from the listener.
func (h *Host) Listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		t.Fatalf("netlab: listen in %s: %v", h.Name, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// Dial connects from inside the host's namespace.
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

func newNSName() string {
	return fmt.Sprintf("dbt%dx%d", os.Getpid(), nsCounter.Add(1))
}

func addNS(name string) error { return ip("netns", "add", name) }

func delNS(name string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", name)); os.IsNotExist(err) {
		return nil
	}
	return ip("netns", "del", name)
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeStale deletes namespaces named by a previous netlab process that no
// longer runs (a test binary killed before its cleanups ran).
func removeStale() {
	names, _ := filepath.Glob("/run/netns/dbt*x*")
	for _, p := range names {
		name := filepath.Base(p)
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(name, "dbt"), "x")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			_ = delNS(name)
		}
	}
}
