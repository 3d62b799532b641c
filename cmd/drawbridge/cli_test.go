package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/drawbridge/drawbridge/internal/pki"
)

// server is a `drawbridge server` running in-process, with what client
// commands and the test need to reach it as the bootstrap admin.
type server struct {
	addr, dataDir string
	vars          map[string]string // DRAWBRIDGE_ADDR, _CACERT, _TOKEN (admin)
	hc            *http.Client      // trusts the server's CA
	admin         *client.Client
}

func newServer(t *testing.T, extra ...string) *server {
	t.Helper()
	addr, dataDir := startServer(t, extra...)
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	cacert := filepath.Join(dataDir, "ca.pem")
	pool, err := pki.LoadClientCAFile(cacert)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	s := &server{addr: addr, dataDir: dataDir, hc: hc,
		vars: map[string]string{"DRAWBRIDGE_ADDR": addr, "DRAWBRIDGE_CACERT": cacert, "DRAWBRIDGE_TOKEN": strings.TrimSpace(string(tok))}}
	s.admin = s.client(t, s.vars["DRAWBRIDGE_TOKEN"])
	return s
}

func (s *server) client(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.New(s.addr, token, s.hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// as returns the environment of a client command run with token.
func (s *server) as(token string) map[string]string {
	v := map[string]string{}
	for k, x := range s.vars {
		v[k] = x
	}
	v["DRAWBRIDGE_TOKEN"] = token
	return v
}

// token creates an API token with role and returns its secret.
func (s *server) token(t *testing.T, name string, role d.Role) string {
	t.Helper()
	tok, _, err := s.admin.TokenCreate(t.Context(), d.TokenInput{Name: name, Role: role, Owner: name})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// agent enrolls a fake Linux agent called name that confirms every state
// version at once, until the test ends.
func (s *server) agent(t *testing.T, name string) d.MachineID {
	t.Helper()
	jt, _, _, err := s.admin.JoinTokenCreate(t.Context(), d.JoinTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	key, csr, err := pki.NewKeyAndCSR(name)
	if err != nil {
		t.Fatal(err)
	}
	inv := d.Inventory{Hostname: name, OS: "linux", AgentVersion: "test", Firewall: "nftables", Addresses: []string{"127.0.0.1/8"}}
	en, err := s.client(t, "").Enroll(t.Context(), d.EnrollInput{JoinToken: jt, Name: name, CSR: string(csr), Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pki.LoadClientCAFile(s.vars["DRAWBRIDGE_CACERT"])
	if err != nil {
		t.Fatal(err)
	}
	tc, err := pki.ClientTLSConfig(pool, []byte(en.Certificate), key)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	c, err := client.New(s.addr, "", hc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait(); hc.CloseIdleConnections() })
	wg.Go(func() {
		var version int64
		for ctx.Err() == nil {
			ds, err := c.WatchState(ctx, en.MachineID, version, 5*time.Second)
			if err != nil {
				select { // the test is ending, or a transient error: ask again soon
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			if ds.Version != version {
				version = ds.Version
				_ = c.Ack(ctx, en.MachineID, d.AckInput{Version: version})
			}
		}
	})
	return en.MachineID
}

// signalWriter collects what is written and closes seen once it contains
// substr.
type signalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	substr string
	seen   chan struct{}
}

func newSignalWriter(substr string) *signalWriter {
	return &signalWriter{substr: substr, seen: make(chan struct{})}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.buf.String(), w.substr)
	w.buf.Write(p)
	if !had && strings.Contains(w.buf.String(), w.substr) {
		close(w.seen)
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// background runs a client command in a goroutine with stderr going to
// errOut; the result arrives on the returned channel.
type result struct {
	code   int
	stdout string
}

func background(t *testing.T, vars map[string]string, errOut *signalWriter, args ...string) <-chan result {
	t.Helper()
	out := make(chan result, 1)
	go func() {
		var stdout bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: errOut, getenv: func(k string) string { return vars[k] }}
		code := runEnv(t.Context(), e, args)
		out <- result{code, stdout.String()}
	}()
	return out
}

// TestRequestWaitThroughApproval checks that request --wait on a policy
// that needs approval waits for it, says whom it waits for, and exits 0
// only once the port is open; denied and not approved in time are non-zero
// exits with their own messages.
func TestRequestWaitThroughApproval(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.agent(t, "web1")
	_, err := s.admin.PolicySet(t.Context(), "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}},
		Approval: &d.ApprovalInput{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 1, Approvers: []string{"role:admin"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	alice := s.as(s.token(t, "alice", d.RoleRequester))
	pendingID := func(t *testing.T) d.RequestID {
		t.Helper()
		rs, err := s.admin.Requests(t.Context(), client.RequestsFilter{Open: true})
		var ids []d.RequestID
		for _, r := range rs {
			if r.Status == d.StatusPending {
				ids = append(ids, r.ID)
			}
		}
		if err != nil || len(ids) != 1 {
			t.Fatalf("pending requests = %v, %v; want one", ids, err)
		}
		return ids[0]
	}
	request := []string{"request", "web1", "--port", "22", "--duration", "10m", "--wait"}

	t.Run("approved", func(t *testing.T) {
		errOut := newSignalWriter("pending approval by role:admin (0 of 1 approval(s))")
		done := background(t, alice, errOut, request...)
		select {
		case <-errOut.seen:
		case r := <-done:
			t.Fatalf("request --wait exited %d before approval:\n%s%s", r.code, r.stdout, errOut)
		}
		id := pendingID(t)
		if _, err := s.admin.Approve(t.Context(), id, d.DecisionInput{Reason: "ok"}); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.code != 0 || !strings.Contains(r.stdout, string(id)+" active until") || !strings.Contains(r.stdout, "web1 22/tcp from 127.0.0.1/32: active") {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, errOut)
		}
	})
	t.Run("denied", func(t *testing.T) {
		errOut := newSignalWriter("pending approval by")
		done := background(t, alice, errOut, request...)
		select {
		case <-errOut.seen:
		case r := <-done:
			t.Fatalf("request --wait exited %d before the decision:\n%s%s", r.code, r.stdout, errOut)
		}
		id := pendingID(t)
		if _, err := s.admin.Deny(t.Context(), id, d.DecisionInput{Reason: "no ticket"}); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if want := "drawbridge: request " + string(id) + " was denied by admin: no ticket"; r.code == 0 || !strings.Contains(errOut.String(), want) {
			t.Errorf("exit %d, want non-zero and %q; stderr:\n%s", r.code, want, errOut)
		}
		if strings.Contains(r.stdout, "until \n") || !strings.Contains(r.stdout, string(id)+" denied by admin: no ticket") {
			t.Errorf("a denied request printed:\n%s", r.stdout)
		}
	})
	t.Run("ssh waits for approval too", func(t *testing.T) {
		errOut := newSignalWriter("pending approval by role:admin")
		argv := make(chan []string, 1)
		done := make(chan int, 1)
		go func() {
			e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: errOut, getenv: func(k string) string { return alice[k] },
				execve: func(a []string) error { argv <- a; return nil }}
			done <- runEnv(t.Context(), e, []string{"ssh", "web1", "--duration", "10m", "--", "-A"})
		}()
		select {
		case <-errOut.seen:
		case code := <-done:
			t.Fatalf("ssh exited %d before approval:\n%s", code, errOut)
		}
		id := pendingID(t)
		if _, err := s.admin.Approve(t.Context(), id, d.DecisionInput{Reason: "ok"}); err != nil {
			t.Fatal(err)
		}
		if code := <-done; code != 0 {
			t.Fatalf("ssh exited %d:\n%s", code, errOut)
		}
		if got := strings.Join(<-argv, " "); got != "ssh -p 22 -A 127.0.0.1" {
			t.Errorf("ran %q", got)
		}
	})
	t.Run("not approved in time", func(t *testing.T) {
		errOut := newSignalWriter("pending approval by")
		r := <-background(t, alice, errOut, append(request, "--approval-timeout", "1s")...)
		if r.code == 0 || !strings.Contains(errOut.String(), "was not approved within 1s; it stays pending until") {
			t.Errorf("exit %d, stderr:\n%s", r.code, errOut)
		}
		if _, err := s.admin.Revoke(t.Context(), pendingID(t), d.RevokeInput{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOpenOutcome checks the message of every way a wait for open can end.
func TestOpenOutcome(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tgt := func(st d.Status, reason string) d.Target {
		return d.Target{MachineName: "web1", Port: 22, Protocol: d.TCP, Status: st, Reason: reason, End: at}
	}
	tests := []struct {
		name string
		r    d.Request
		want string // "" for success
	}{
		{"active", d.Request{ID: "req_1", Start: at, Targets: []d.Target{tgt(d.StatusActive, "")}}, ""},
		{"denied", d.Request{ID: "req_1", Targets: []d.Target{tgt(d.StatusDenied, "x")},
			Approvals: []d.Approval{{Kind: d.ApprovalForRequest, Decision: d.DecisionDeny, ApproverName: "bob", Reason: "no\x1bticket"}}},
			`request req_1 was denied by bob: no\x1bticket`},
		{"expired unapproved", d.Request{ID: "req_1", PendingUntil: at, Targets: []d.Target{tgt(d.StatusExpired, "not approved in time")}}, "request req_1 expired unapproved at 2025-06-01 12:00:00Z"},
		{"expired after opening", d.Request{ID: "req_1", Start: at.Add(-time.Hour), Targets: []d.Target{tgt(d.StatusExpired, "end time reached")}}, "request req_1: web1 22/tcp already expired at 2025-06-01 12:00:00Z"},
		{"failed", d.Request{ID: "req_1", Start: at, Targets: []d.Target{tgt(d.StatusActive, ""), tgt(d.StatusFailed, "nft: no such table")}}, "request req_1: web1 22/tcp failed: nft: no such table"},
		{"revoked", d.Request{ID: "req_1", Start: at, Targets: []d.Target{tgt(d.StatusRevoked, "revoked by admin")}}, "request req_1: web1 22/tcp was revoked: revoked by admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := openOutcome(&tt.r)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("openOutcome = %v, want nil", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("openOutcome = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestExtendThenDoneTwice: after extend the new end and whole length are
// shown; done on an ended request says how it ended and exits 0.
func TestExtendThenDoneTwice(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.agent(t, "web1")
	if _, err := s.admin.PolicySet(t.Context(), "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22, MaxDuration: "3h"}}}); err != nil {
		t.Fatal(err)
	}
	alice := s.as(s.token(t, "alice", d.RoleRequester))
	code, out, errOut := cli(t, alice, nil, "request", "web1", "--port", "22", "--duration", "1h", "--wait", "-o", "json")
	if code != 0 {
		t.Fatalf("request: exit %d: %s", code, errOut)
	}
	var r d.Request
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, alice, nil, "extend", string(r.ID), "--by", "30m")
	want := fmt.Sprintf("%s active until %s (1h30m in all)", r.ID, ts8601(r.End.Add(30*time.Minute)))
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("extend: exit %d, want %q in:\n%s%s", code, want, out, errOut)
	}
	if code, out, errOut = cli(t, alice, nil, "done", string(r.ID)); code != 0 || !strings.Contains(out, string(r.ID)+" revoked (granted 1h30m until") {
		t.Errorf("done: exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli(t, alice, nil, "done", string(r.ID))
	if want := "request " + string(r.ID) + " already ended: revoked at "; code != 0 || !strings.Contains(out, want) ||
		!strings.Contains(out, "by alice (done early by the requester); nothing left to close") {
		t.Errorf("done again: exit %d, want %q:\n%s%s", code, want, out, errOut)
	}
	// revoke of an ended request is a conflict that says the same.
	if code, _, errOut = cli(t, s.vars, nil, "revoke", string(r.ID)); code == 0 || !strings.Contains(errOut, "already ended: revoked at ") {
		t.Errorf("revoke after done: exit %d: %s", code, errOut)
	}
}

// TestJoinTokenCreatePrintsAgentLine: the printed agent command line uses
// the agent's own default data directory (as the README does).
func TestJoinTokenCreatePrintsAgentLine(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	code, out, errOut := cli(t, s.vars, nil, "join-token", "create")
	if code != 0 || !strings.Contains(out, "drawbridge agent --server "+s.addr+" --join-token jtk_") || !strings.Contains(out, " --data-dir "+agentDataDir+"\n") {
		t.Errorf("exit %d:\n%s%s", code, out, errOut)
	}
}
