package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/drawbridge/drawbridge/internal/app"
	"github.com/drawbridge/drawbridge/internal/pki"
)

// TestMain lets the scripts run the CLI: `drawbridge` in a script is this
// test binary running main's run, with the script's environment.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"drawbridge": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
		},
	})
}

var updateScripts = flag.Bool("update", false, "rewrite the golden files of testdata/script from the output")

// TestScripts runs testdata/script/*.txtar: the CLI tier. Each script gets
// its own server, wired by app.New and served by app.Serve on 127.0.0.1:0
// in this process, with DRAWBRIDGE_ADDR, DRAWBRIDGE_CACERT and
// DRAWBRIDGE_TOKEN (the bootstrap admin, also in ADMIN_TOKEN) set. Extra commands:
//
//	agent [-idle] NAME  enroll a fake Linux agent that confirms every state at once
//	                    (it returns once the first state is confirmed); with
//	                    -idle it never does, so grants stay applying
//	                    whatever the machine's speed
//	token VAR NAME ROLE create an API token for the person NAME; $VAR holds it
//	settle              wait until every confirming fake agent confirmed its
//	                    machine's latest state
//	grab VAR FILE RE    set $VAR to the first match of RE in FILE (an ID to reuse)
//	normalize FILE OUT  copy FILE (stdout, stderr or a file) to OUT with IDs,
//	                    secrets, times, durations left and ports replaced by
//	                    placeholders, so golden files do not change between runs
//
// Run with -update to rewrite the golden files from the output.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                filepath.Join("testdata", "script"),
		RequireUniqueNames: true,
		UpdateScripts:      *updateScripts,
		Setup:              scriptSetup,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"agent":     cmdAgent,
			"token":     cmdToken,
			"normalize": cmdNormalize,
			"grab":      cmdGrab,
			"settle":    cmdSettle,
		},
	})
}

// scriptServer is the server of one script, kept in its Env.Values.
// Cleanups run last-in first-out: fake agents stop, then the server, then
// its data directory goes.
type scriptServer struct {
	addr   string
	hc     *http.Client // trusts the server's CA
	roots  *x509.CertPool
	admin  *client.Client
	mu     sync.Mutex
	acking map[d.MachineID]bool // machines whose fake agent confirms states
}

type scriptServerKey struct{}

func scriptSetup(env *testscript.Env) error {
	dir, err := os.MkdirTemp("", "drawbridge-script-")
	if err != nil {
		return err
	}
	env.Defer(func() { os.RemoveAll(dir) })
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{DataDir: dir, Hostnames: []string{"127.0.0.1"}}, log)
	if err != nil {
		cancel()
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	env.Defer(func() {
		cancel()
		if err := <-done; err != nil {
			env.T().Fatal(fmt.Sprintf("server: %v\n%s", err, logs))
		}
	})
	cacert := filepath.Join(dir, "ca.pem")
	pool, err := pki.LoadClientCAFile(cacert)
	if err != nil {
		return err
	}
	addr := "https://" + ln.Addr().String()
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	env.Defer(hc.CloseIdleConnections)
	admin, err := client.New(addr, a.AdminToken, hc)
	if err != nil {
		return err
	}
	env.Values[scriptServerKey{}] = &scriptServer{addr: addr, hc: hc, roots: pool, admin: admin, acking: map[d.MachineID]bool{}}
	env.Setenv("DRAWBRIDGE_ADDR", addr)
	env.Setenv("DRAWBRIDGE_CACERT", cacert)
	env.Setenv("DRAWBRIDGE_TOKEN", a.AdminToken)
	env.Setenv("ADMIN_TOKEN", a.AdminToken) // to switch back after env DRAWBRIDGE_TOKEN=…
	return nil
}

func serverOf(ts *testscript.TestScript) *scriptServer {
	return ts.Value(scriptServerKey{}).(*scriptServer)
}

// cmdAgent enrolls a fake agent, as cli_test.go's server.agent does.
func cmdAgent(ts *testscript.TestScript, neg bool, args []string) {
	idle := len(args) == 2 && args[0] == "-idle"
	if idle {
		args = args[1:]
	}
	if neg || len(args) != 1 {
		ts.Fatalf("usage: agent [-idle] NAME")
	}
	s, name := serverOf(ts), args[0]
	ctx := context.Background()
	jt, _, _, err := s.admin.JoinTokenCreate(ctx, d.JoinTokenInput{})
	ts.Check(err)
	key, csr, err := pki.NewKeyAndCSR(name)
	ts.Check(err)
	inv := d.Inventory{Hostname: name, OS: "linux", AgentVersion: "test", Firewall: "nftables", Addresses: []string{"127.0.0.1/8"}}
	anon, err := client.New(s.addr, "", s.hc)
	ts.Check(err)
	en, err := anon.Enroll(ctx, d.EnrollInput{JoinToken: jt, Name: name, CSR: string(csr), Inventory: inv})
	ts.Check(err)
	if idle {
		return
	}
	tc, err := pki.ClientTLSConfig(s.roots, []byte(en.Certificate), key)
	ts.Check(err)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	c, err := client.New(s.addr, "", hc)
	ts.Check(err)
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ts.Defer(func() { cancel(); wg.Wait(); hc.CloseIdleConnections() })
	s.mu.Lock()
	s.acking[en.MachineID] = true
	s.mu.Unlock()
	wg.Go(func() {
		var version int64
		for actx.Err() == nil {
			ds, err := c.WatchState(actx, en.MachineID, version, 5*time.Second)
			if err != nil {
				select { // the script is ending, or a transient error: ask again soon
				case <-actx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			if ds.Version != version {
				version = ds.Version
				_ = c.Ack(actx, en.MachineID, d.AckInput{Version: version})
			}
		}
	})
	cmdSettle(ts, false, nil)
}

// cmdSettle waits until every confirming fake agent confirmed its latest state, so
// that the versions and statuses a script prints next do not depend on how
// fast the fake agents are. It polls; the test's deadline bounds it.
func cmdSettle(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: settle")
	}
	for {
		s := serverOf(ts)
		ms, err := s.admin.Machines(context.Background())
		ts.Check(err)
		settled := true
		s.mu.Lock()
		for _, m := range ms {
			settled = settled && (!s.acking[m.ID] || m.AppliedVersion == m.StateVersion)
		}
		s.mu.Unlock()
		if settled {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cmdToken creates an API token and puts its secret in a variable.
func cmdToken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: token VAR NAME ROLE")
	}
	tok, _, err := serverOf(ts).admin.TokenCreate(context.Background(), d.TokenInput{Name: args[1], Role: d.Role(args[2]), Owner: args[1]})
	ts.Check(err)
	ts.Setenv(args[0], tok)
}

// normalizers replace what changes between runs with placeholders of the
// same width, so tables keep their alignment; the order matters (a secret
// before its ID).
var normalizers = []struct {
	re   *regexp.Regexp
	with func(string) string
}{
	{regexp.MustCompile(`\b(tok|jtk)_[a-z0-9]+\.[a-z0-9]+`), func(m string) string { return m[:4] + "SECRET" }},
	{regexp.MustCompile(`\b(mch|req|tgt|tok|jtk|pol|bnd|whk|dlv|ses)_[a-z0-9]{6,}`), func(m string) string { return m[:4] + strings.Repeat("x", len(m)-4) }},
	// Times: digits become 0 and fractions of a second go.
	{regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?`), func(m string) string {
		return regexp.MustCompile(`\d`).ReplaceAllString(regexp.MustCompile(`\.\d+`).ReplaceAllString(m, ""), "0")
	}},
	{regexp.MustCompile(`sha256:[0-9a-f]{64}`), func(string) string { return "sha256:PIN" }},
	{regexp.MustCompile(`\b[0-9a-f]{64}\b`), func(string) string { return strings.Repeat("h", 64) }}, // audit chain hashes
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), func(string) string { return "127.0.0.1:PORT" }},
	// Durations measured or counted down: how long applying took, time left.
	{regexp.MustCompile(`(open in |"apply_latency": ")[0-9.hmsµn]+`), func(m string) string { return m[:strings.LastIndexAny(m, " \"")+1] + "DUR" }},
	{regexp.MustCompile(`\b[0-9][0-9.hmsµn]* (left|ago)\b`), func(m string) string { return "DUR" + m[strings.LastIndex(m, " "):] }},
}

// normalize applies normalizers to s, after naming the script's work
// directory $WORK and the server's data directory $DATA.
func normalize(s, workDir, dataDir string) string {
	s = strings.ReplaceAll(s, workDir, "$WORK")
	s = strings.ReplaceAll(s, dataDir, "$DATA")
	for _, n := range normalizers {
		s = n.re.ReplaceAllStringFunc(s, n.with)
	}
	return s
}

func cmdNormalize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: normalize FILE OUT")
	}
	s := normalize(ts.ReadFile(args[0]), ts.Getenv("WORK"), filepath.Dir(ts.Getenv("DRAWBRIDGE_CACERT")))
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(s), 0o644))
}

func cmdGrab(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: grab VAR FILE REGEXP")
	}
	re, err := regexp.Compile(args[2])
	ts.Check(err)
	m := re.FindString(ts.ReadFile(args[1]))
	if m == "" {
		ts.Fatalf("no match for %s in %s", args[2], args[1])
	}
	ts.Setenv(args[0], m)
}
