package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/netlab"
)

// The peer benchmarks compare Drawbridge with fwknop (Single Packet
// Authorization) from the client's side: the time from sending the access
// request to the first TCP connection that completes its handshake to the
// protected port. Both run in the same kind of lab (a protected host "web"
// with a TCP echo service whose port drops by default, and a client host
// "c1"), and both poll with the same firstConnect.
//
// They run only with -bench; BenchmarkPeerFwknop skips when fwknopd, fwknop
// or iptables is missing (Debian: apt-get install fwknop-server
// fwknop-client iptables). fwknopd programs iptables inside the lab's
// namespace only.

// firstConnect starts a TCP connection attempt from h to addr every
// millisecond, each given attemptTimeout (a dropped SYN shows as a timeout),
// and returns when the first one completes the handshake. Attempts overlap,
// so a rule that lands while one attempt's SYN is already dropped is seen by
// the next attempt within a millisecond.
func firstConnect(ctx context.Context, h *netlab.Host, addr string, limit time.Duration) (time.Time, error) {
	const attemptTimeout = 10 * time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, limit)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	won := make(chan time.Time, 1)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		wg.Go(func() {
			actx, acancel := context.WithTimeout(ctx, attemptTimeout)
			defer acancel()
			c, err := h.Dial(actx, "tcp", addr)
			if err != nil {
				return
			}
			at := time.Now()
			c.Close()
			select {
			case won <- at:
			default:
			}
		})
		select {
		case at := <-won:
			return at, nil
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no connection from %s to %s within %s", h.Name, addr, limit)
		case <-tick.C:
		}
	}
}

// waitBlocked waits until a connection from h to addr times out (the SYN is
// dropped), so that the next measurement starts from a closed port.
func waitBlocked(b *testing.B, h *netlab.Host, addr string) {
	b.Helper()
	eventually(b, 10*time.Second, "port closed again", func() bool {
		ctx, cancel := context.WithTimeout(b.Context(), 50*time.Millisecond)
		defer cancel()
		c, err := h.Dial(ctx, "tcp", addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}

// startIn starts cmd with h's network namespace without `ip netns exec`
// (whose mount namespace set-up would add milliseconds to a CLI's time): the
// child is forked from a thread switched into the namespace.
func startIn(h *netlab.Host, cmd *exec.Cmd) error {
	return h.Do(cmd.Start)
}

// BenchmarkPeerFwknop measures fwknop 2.6 (fwknopd in UDP server mode with
// the iptables back end, Rijndael + HMAC-SHA256 keys): from the SPA packet
// leaving the client to the first completed TCP handshake to the port it
// opens. Reported twice: spa-* sends a packet built beforehand by `fwknop -T
// -B` (the server's reaction alone); cli-* starts the fwknop client (build
// and send) at time zero, as a user would. Between measurements the ACCEPT
// rule fwknopd added is flushed, so that every measurement starts closed.
func BenchmarkPeerFwknop(b *testing.B) {
	var missing []string
	for _, tool := range []string{"fwknopd", "fwknop", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		b.Skipf("peer benchmark needs %s in PATH (Debian: apt-get install fwknop-server fwknop-client iptables)", strings.Join(missing, ", "))
	}
	lab := netlab.New(b)
	web, c1 := lab.Host("web"), lab.Host("c1")
	ln := web.Listen(b, "tcp", "[::]:0")
	go echoServe(ln)
	port := ln.Addr().(*net.TCPAddr).Port
	target := net.JoinHostPort(web.IPv4.String(), fmt.Sprint(port))
	const spaPort = 62201

	dir := b.TempDir()
	key, hmacKey := make([]byte, 32), make([]byte, 64)
	rand.Read(key)
	rand.Read(hmacKey)
	k64, h64 := base64.StdEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(hmacKey)
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		b.Fatal(err)
	}
	iptables, _ := exec.LookPath("iptables")
	writePeerFile(b, filepath.Join(dir, "fwknopd.conf"), fmt.Sprintf(`PCAP_INTF eth0;
ENABLE_UDP_SERVER Y;
UDPSERV_PORT %d;
FWKNOP_CONF_DIR %s;
FWKNOP_RUN_DIR %s;
FWKNOP_PID_FILE %s/fwknopd.pid;
DIGEST_FILE %s/digest.cache;
FIREWALL_EXE %s;
`, spaPort, dir, run, run, run, iptables))
	writePeerFile(b, filepath.Join(dir, "access.conf"), fmt.Sprintf(`SOURCE ANY
OPEN_PORTS tcp/%d
KEY_BASE64 %s
HMAC_KEY_BASE64 %s
FW_ACCESS_TIMEOUT 30
`, port, k64, h64))

	// The default DROP for the port, in the protected namespace only;
	// fwknopd inserts its FWKNOP_INPUT jump in front of it.
	if _, err := web.Run(b.Context(), "iptables", "-A", "INPUT", "-p", "tcp", "--dport", fmt.Sprint(port), "-j", "DROP"); err != nil {
		b.Fatal(err)
	}
	waitBlocked(b, c1, target)

	fwknopd := web.Command(context.Background(), "fwknopd", "-f",
		"-c", filepath.Join(dir, "fwknopd.conf"), "-a", filepath.Join(dir, "access.conf"))
	out := &syncBuffer{}
	fwknopd.Stdout, fwknopd.Stderr = out, out
	if err := fwknopd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = fwknopd.Wait(); close(done) }()
	b.Cleanup(func() {
		_ = fwknopd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = fwknopd.Process.Kill()
			<-done
		}
		if b.Failed() {
			b.Logf("--- fwknopd output ---\n%s", out.String())
		}
	})
	eventually(b, 10*time.Second, "fwknopd UDP server started", func() bool {
		return strings.Contains(out.String(), "Kicking off UDP server")
	})

	// The client never reads or writes rc files in $HOME.
	clientArgs := []string{"--no-rc-file", "--no-save-args", "--use-hmac",
		"-A", fmt.Sprintf("tcp/%d", port), "-a", c1.IPv4.String(), "-D", web.IPv4.String(),
		"-p", fmt.Sprint(spaPort), "--key-base64-rijndael", k64, "--key-base64-hmac", h64}
	clientEnv := append(os.Environ(), "HOME="+dir)
	pktFile := filepath.Join(dir, "spa.pkt")
	buildSPA := func() []byte {
		_ = os.Remove(pktFile)
		cmd := exec.Command("fwknop", append(clientArgs, "-T", "-B", pktFile)...)
		cmd.Env = clientEnv
		if err := startIn(c1, cmd); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			b.Fatalf("fwknop -T: %v", err)
		}
		pkt, err := os.ReadFile(pktFile)
		if err != nil {
			b.Fatal(err)
		}
		return []byte(strings.TrimSpace(string(pkt)))
	}
	udp, err := c1.Dial(b.Context(), "udp", net.JoinHostPort(web.IPv4.String(), fmt.Sprint(spaPort)))
	if err != nil {
		b.Fatal(err)
	}
	defer udp.Close()
	closeAgain := func() {
		if _, err := web.Run(b.Context(), "iptables", "-F", "FWKNOP_INPUT"); err != nil {
			b.Fatal(err)
		}
		waitBlocked(b, c1, target)
	}
	measureSPA := func(limit time.Duration) (time.Duration, error) {
		pkt := buildSPA()
		start := time.Now()
		if _, err := udp.Write(pkt); err != nil {
			return 0, err // an ICMP port unreachable seen by the connected socket
		}
		at, err := firstConnect(b.Context(), c1, target, limit)
		return at.Sub(start), err
	}
	measureCLI := func() time.Duration {
		cmd := exec.Command("fwknop", clientArgs...)
		cmd.Env = clientEnv
		var cliOut syncBuffer
		cmd.Stdout, cmd.Stderr = &cliOut, &cliOut
		start := time.Now()
		if err := startIn(c1, cmd); err != nil {
			b.Fatal(err)
		}
		at, err := firstConnect(b.Context(), c1, target, 5*time.Second)
		if werr := cmd.Wait(); werr != nil {
			b.Fatalf("fwknop: %v\n%s", werr, cliOut.String())
		}
		if err != nil {
			b.Fatal(err)
		}
		return at.Sub(start)
	}

	// Warm up: the UDP socket may be bound just after the log line.
	for i := 0; ; i++ {
		if _, err := measureSPA(time.Second); err == nil {
			break
		} else if i == 5 {
			b.Fatalf("fwknopd never opened the port: %v", err)
		}
	}
	closeAgain()

	var spa, cli []time.Duration
	for b.Loop() {
		dt, err := measureSPA(5 * time.Second)
		if err != nil {
			b.Fatal(err)
		}
		spa = append(spa, dt)
		closeAgain()
		cli = append(cli, measureCLI())
		closeAgain()
	}
	b.ReportMetric(pct(spa, 50), "spa-connect-p50-ms")
	b.ReportMetric(pct(spa, 99), "spa-connect-p99-ms")
	b.ReportMetric(pct(cli, 50), "cli-connect-p50-ms")
	b.ReportMetric(pct(cli, 99), "cli-connect-p99-ms")
}

// BenchmarkPeerDrawbridgeConnect is the same client-side measure for
// Drawbridge with a real server and agent: from the access request leaving
// c1 to the first completed TCP handshake from c1 to the port. api-* sends the
// request through the Go client (a warm HTTPS connection, with ?wait);
// cli-* starts `drawbridge request --wait` at time zero. The connection
// attempts start at time zero too, not when the answer arrives. wait-rtt-*
// is the API call's own round trip. Each grant is revoked afterwards and the
// port checked closed before the next measurement.
func BenchmarkPeerDrawbridgeConnect(b *testing.B) {
	w := newWorld(b)
	w.startServer()
	w.enroll()
	w.protect()
	c := w.api(w.c1, w.adminToken)
	target := net.JoinHostPort(w.web.IPv4.String(), fmt.Sprint(w.port))
	in := d.RequestInput{Targets: []d.MachineTargets{{Machine: "web", Ports: []d.PortTarget{{Port: w.port}}}}, Duration: "5m"}

	revoke := func(id d.RequestID) {
		if _, err := c.Revoke(b.Context(), id, d.RevokeInput{}); err != nil {
			b.Fatal(err)
		}
		waitBlocked(b, w.c1, target)
	}
	type result struct {
		r   *d.Request
		rtt time.Duration
		err error
	}
	measureAPI := func() (time.Duration, time.Duration) {
		res := make(chan result, 1)
		start := time.Now()
		go func() {
			r, err := c.RequestCreate(b.Context(), in, 10*time.Second)
			res <- result{r, time.Since(start), err}
		}()
		at, err := firstConnect(b.Context(), w.c1, target, 10*time.Second)
		rr := <-res
		if rr.err != nil {
			b.Fatal(rr.err)
		}
		if err != nil {
			b.Fatal(err)
		}
		if rr.r.Status != d.StatusActive {
			b.Fatalf("request not active: %s", rr.r.Status)
		}
		revoke(rr.r.ID)
		return at.Sub(start), rr.rtt
	}
	measureCLI := func() time.Duration {
		cmd := exec.Command(bin, "request", "web", "--port", itoa(w.port), "--duration", "5m", "--wait", "-o", "json")
		cmd.Env = append(os.Environ(), "DRAWBRIDGE_ADDR="+w.serverAddr, "DRAWBRIDGE_TOKEN="+w.adminToken, "DRAWBRIDGE_CACERT="+w.caPath, "XDG_CACHE_HOME="+w.cacheDir)
		var stdout, stderr syncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		if err := startIn(w.c1, cmd); err != nil {
			b.Fatal(err)
		}
		at, err := firstConnect(b.Context(), w.c1, target, 10*time.Second)
		if werr := cmd.Wait(); werr != nil {
			b.Fatalf("drawbridge request: %v: %s", werr, stderr.String())
		}
		if err != nil {
			b.Fatal(err)
		}
		r := jsonOf[d.Request](b, stdout.String())
		revoke(r.ID)
		return at.Sub(start)
	}

	measureAPI() // warm up the HTTPS connection
	var api, cli, rtt []time.Duration
	for b.Loop() {
		dt, rt := measureAPI()
		api, rtt = append(api, dt), append(rtt, rt)
		cli = append(cli, measureCLI())
	}
	b.ReportMetric(pct(api, 50), "api-connect-p50-ms")
	b.ReportMetric(pct(api, 99), "api-connect-p99-ms")
	b.ReportMetric(pct(cli, 50), "cli-connect-p50-ms")
	b.ReportMetric(pct(cli, 99), "cli-connect-p99-ms")
	b.ReportMetric(pct(rtt, 50), "wait-rtt-p50-ms")
	b.ReportMetric(pct(rtt, 99), "wait-rtt-p99-ms")
}

func writePeerFile(b *testing.B, path, content string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		b.Fatal(err)
	}
}
