package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/drawbridge/drawbridge/internal/netlab"
	"github.com/drawbridge/drawbridge/internal/pgtest"
	"github.com/drawbridge/drawbridge/internal/pki"
)

// bin is the drawbridge binary built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drawbridge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "drawbridge")
	build := exec.Command("go", "build", "-o", bin, "github.com/drawbridge/drawbridge/cmd/drawbridge")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build drawbridge: %v\n%s", err, out)
		os.Exit(1)
	}
	// pgtest.Main runs the tests and stops the throwaway PostgreSQL cluster
	// if a test started one; returning from TestMain exits with m.Run's code.
	defer os.RemoveAll(dir)
	pgtest.Main(m)
}

// world is one lab: a server host, a protected host running the agent and
// a TCP echo service, and two client hosts.
type world struct {
	t              testing.TB
	lab            *netlab.Lab
	srv, web       *netlab.Host
	c1, c2         *netlab.Host
	dataDir        string
	agentDir       string
	cacheDir       string // the CLI's user cache directory (its TLS sessions), not the host's
	adminToken     string
	port           uint16 // the echo service on web, protected in the tests
	server, agent  *proc
	serverAddr     string
	serverAddr6    string
	caPath         string
	agentExtraArgs []string
	serverArgs     []string // more flags for the server (later ones win)
	database       string   // --database for the server; "" is SQLite in dataDir
}

func newWorld(t testing.TB) *world {
	t.Helper()
	netlab.Require(t, "netns", "nft")
	lab := netlab.New(t)
	w := &world{t: t, lab: lab, srv: lab.Host("srv"), web: lab.Host("web"), c1: lab.Host("c1"), c2: lab.Host("c2")}
	w.dataDir = t.TempDir()
	w.agentDir = t.TempDir()
	w.cacheDir = t.TempDir()
	w.caPath = filepath.Join(w.dataDir, "ca.pem")
	w.serverAddr = "https://" + net.JoinHostPort(w.srv.IPv4.String(), "8443")
	w.serverAddr6 = "https://" + net.JoinHostPort(w.srv.IPv6.String(), "8443")
	ln := w.web.Listen(t, "tcp", "[::]:0")
	w.port = uint16(ln.Addr().(*net.TCPAddr).Port)
	go echoServe(ln)
	return w
}

// echoServe echoes every line back, on every connection.
func echoServe(ln net.Listener) {
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
}

// proc is a drawbridge process inside a namespace.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (w *world) start(h *netlab.Host, name string, args ...string) *proc {
	w.t.Helper()
	cmd := h.Command(context.Background(), bin, args...)
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	w.t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if w.t.Failed() {
			w.t.Logf("--- %s output ---\n%s", name, p.out.String())
		}
	})
	return p
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	<-p.done
}

func (w *world) startServer() {
	w.t.Helper()
	args := []string{"server", "--data-dir", w.dataDir, "--listen", "[::]:8443",
		"--hostname", w.srv.IPv4.String(), "--hostname", w.srv.IPv6.String(), "--agent-timeout", "3s", "--log-level", "debug"}
	if w.database != "" {
		args = append(args, "--database", w.database)
	}
	args = append(args, w.serverArgs...)
	w.server = w.start(w.srv, "server", args...)
	eventually(w.t, 10*time.Second, "server ready", func() bool {
		b, err := os.ReadFile(filepath.Join(w.dataDir, "admin.token"))
		if err != nil {
			return false
		}
		w.adminToken = strings.TrimSpace(string(b))
		_, err = w.api(w.c1, w.adminToken).Machines(w.t.Context())
		return err == nil
	})
}

func (w *world) startAgent(joinArgs ...string) {
	w.t.Helper()
	args := append([]string{"agent", "--data-dir", w.agentDir, "--log-level", "debug"}, joinArgs...)
	args = append(args, w.agentExtraArgs...)
	w.agent = w.start(w.web, "agent", args...)
}

// enroll creates a join token and starts the agent with it, and waits until
// the machine shows up online.
func (w *world) enroll() {
	w.t.Helper()
	tok, pin, _, err := w.api(w.c1, w.adminToken).JoinTokenCreate(w.t.Context(), d.JoinTokenInput{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.startAgent("--server", w.serverAddr, "--join-token", tok, "--ca-pin", pin, "--name", "web")
	eventually(w.t, 10*time.Second, "agent enrolled and online", func() bool {
		m, err := w.api(w.c1, w.adminToken).Machine(w.t.Context(), "web")
		return err == nil && m.Online
	})
}

// api returns a client that calls the server from host h, so the server
// sees h's address.
func (w *world) api(h *netlab.Host, token string) *client.Client {
	return w.apiAt(h, token, w.serverAddr)
}

func (w *world) apiAt(h *netlab.Host, token, addr string) *client.Client {
	pool, err := pki.LoadClientCAFile(w.caPath)
	if err != nil {
		w.t.Fatal(err)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext:     h.Dial,
	}
	w.t.Cleanup(tr.CloseIdleConnections)
	c, err := client.New(addr, token, &http.Client{Transport: tr, Timeout: 90 * time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// cli runs the drawbridge CLI inside host h with token, and returns its
// standard output; a non-zero exit is returned as an error with stderr.
func (w *world) cli(h *netlab.Host, token string, args ...string) (string, error) {
	cmd := h.Command(w.t.Context(), bin, args...)
	cmd.Env = append(os.Environ(), "DRAWBRIDGE_ADDR="+w.serverAddr, "DRAWBRIDGE_TOKEN="+token, "DRAWBRIDGE_CACERT="+w.caPath, "XDG_CACHE_HOME="+w.cacheDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("drawbridge %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (w *world) mustCLI(h *netlab.Host, token string, args ...string) string {
	w.t.Helper()
	out, err := w.cli(h, token, args...)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// waitApplied waits until the agent confirmed the machine's current state.
func (w *world) waitApplied() {
	w.t.Helper()
	eventually(w.t, 10*time.Second, "agent applied the current state", func() bool {
		m, err := w.api(w.c1, w.adminToken).Machine(w.t.Context(), "web")
		return err == nil && m.AppliedVersion >= m.StateVersion && m.ApplyError == ""
	})
}

// connect opens a TCP connection from h to the echo service and checks it
// echoes. A dropped SYN shows as a timeout.
func (w *world) connect(h *netlab.Host, to netip.Addr) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(w.t.Context(), 400*time.Millisecond)
	defer cancel()
	c, err := h.Dial(ctx, "tcp", net.JoinHostPort(to.String(), fmt.Sprint(w.port)))
	if err != nil {
		return nil, err
	}
	if err := echo(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func echo(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(700 * time.Millisecond))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return fmt.Errorf("echo: got %q", line)
	}
	return nil
}

func (w *world) mustOpen(h *netlab.Host, to netip.Addr) net.Conn {
	w.t.Helper()
	c, err := w.connect(h, to)
	if err != nil {
		w.t.Fatalf("%s → web %s:%d should be open: %v", h.Name, to, w.port, err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c
}

func (w *world) mustBlock(h *netlab.Host, to netip.Addr) {
	w.t.Helper()
	if c, err := w.connect(h, to); err == nil {
		c.Close()
		w.t.Fatalf("%s → web %s:%d should be blocked, but connected", h.Name, to, w.port)
	}
}

func (w *world) blocked(h *netlab.Host, to netip.Addr) bool {
	c, err := w.connect(h, to)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func nftTable(t testing.TB, h *netlab.Host) string {
	out, err := h.Run(t.Context(), "nft", "list", "tables")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func jsonOf[T any](t testing.TB, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}
