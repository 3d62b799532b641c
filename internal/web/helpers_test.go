package web_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/drawbridge/drawbridge/internal/app"
	"github.com/drawbridge/drawbridge/internal/control"
	"github.com/drawbridge/drawbridge/internal/pki"
	"github.com/drawbridge/drawbridge/internal/store"
	"github.com/drawbridge/drawbridge/internal/web"
)

// fakeClock is the service's clock: it stands still until a test advances it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(dt time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(dt)
}

// syncBuffer collects the server log; handlers write to it concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testEnv is a whole server, wired by app.New as `drawbridge server` is,
// on a real SQLite file and a real CA, served over TLS by httptest.
type testEnv struct {
	url    string
	db     *store.DB
	svc    *control.Service
	hub    *control.Hub
	ca     *pki.Authority
	pool   *x509.CertPool
	clock  *fakeClock
	log    *syncBuffer
	hc     *http.Client   // trusts the CA; presents no client certificate
	admin  string         // the bootstrap admin token
	adminC *client.Client // the Go client with the admin token
}

// envOption changes the server's configuration before it starts.
type envOption func(*app.Config)

func withTrustedProxies(ps ...string) envOption {
	return func(c *app.Config) {
		for _, p := range ps {
			c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
		}
	}
}

// withControl changes the control service's configuration.
func withControl(f func(*control.Config)) envOption {
	return func(c *app.Config) { f(&c.Control) }
}

// newEnv starts a server. Long-polls re-read the database only once an hour,
// so a watch that returns early was woken by the change itself.
func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	return newEnvIn(t, t.TempDir(), 0, opts...)
}

// newEnvIn starts a server whose data directory is dir, keeping a disk
// reserve of reserve bytes beside its database. Only the handler is served:
// the background loops (expiry, webhooks) are left to the tests to drive.
func newEnvIn(t *testing.T, dir string, reserve int64, opts ...envOption) *testEnv {
	t.Helper()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	cfg := app.Config{
		DataDir:      dir,
		Control:      control.Config{RecheckInterval: time.Hour},
		Now:          clock.Now,
		StoreOptions: []store.Option{store.WithReserve(reserve)},
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	a, err := app.New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	db, svc, hub, ca, admin := a.DB, a.Service, a.Hub, a.CA, a.AdminToken

	srv := httptest.NewUnstartedServer(a.Handler)
	tc := ca.TLSConfig()
	// httptest installs its own certificate when Certificates is empty, and
	// Go prefers Certificates over GetCertificate when the client sends no
	// SNI (as for 127.0.0.1): serve the CA's server certificate explicitly.
	cert, err := tc.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	tc.Certificates = []tls.Certificate{*cert}
	srv.TLS = tc
	srv.StartTLS()
	t.Cleanup(srv.Close)

	pool := x509.NewCertPool()
	pool.AddCert(ca.CACert())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	adminC, err := client.New(srv.URL, admin, hc)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{url: srv.URL, db: db, svc: svc, hub: hub, ca: ca, pool: pool, clock: clock, log: logs, hc: hc, admin: admin, adminC: adminC}
}

// response is what the server answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

// newRequest builds a request to path. body is sent as is when it is a
// string or []byte, JSON-encoded otherwise; nil sends no body.
func (e *testEnv) newRequest(t *testing.T, method, path, token string, body any) *http.Request {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func send(t *testing.T, hc *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// call sends one request without a client certificate.
func (e *testEnv) call(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	return send(t, e.hc, e.newRequest(t, method, path, token, body))
}

// decode checks the status and decodes the JSON body into out (if not nil).
func decode(t *testing.T, r response, wantStatus int, out any) {
	t.Helper()
	if r.status != wantStatus {
		t.Fatalf("status = %d, want %d; body: %s", r.status, wantStatus, r.body)
	}
	if out == nil {
		return
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// wantError checks that r is an error response with the given status, code
// and field, in exactly the documented shape, and returns its detail.
func wantError(t *testing.T, r response, status int, code d.Kind, field string) web.ErrorDetail {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body web.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %s is not {\"error\":{code,message,field,request_id}}: %v", r.body, err)
	}
	e := body.Error
	if e.Code != code {
		t.Errorf("error.code = %q, want %q (message %q)", e.Code, code, e.Message)
	}
	if e.Field != field {
		t.Errorf("error.field = %q, want %q (message %q)", e.Field, field, e.Message)
	}
	if e.Message == "" {
		t.Errorf("error.message is empty")
	}
	if e.RequestID == "" || e.RequestID != r.header.Get("X-Request-Id") {
		t.Errorf("error.request_id = %q, want the X-Request-Id header %q", e.RequestID, r.header.Get("X-Request-Id"))
	}
	if got := r.header.Get("WWW-Authenticate"); (status == http.StatusUnauthorized) != (got != "") {
		t.Errorf("status %d with WWW-Authenticate %q", status, got)
	}
	return e
}

// token creates an API token with role for the person name (its owner)
// and returns its full secret and ID.
func (e *testEnv) token(t *testing.T, name string, role d.Role) (string, d.TokenID) {
	t.Helper()
	full, tok, err := e.adminC.TokenCreate(t.Context(), d.TokenInput{Name: name, Role: role, Owner: name})
	if err != nil {
		t.Fatal(err)
	}
	return full, tok.ID
}

// clientFor returns the Go client for token.
func (e *testEnv) clientFor(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.New(e.url, token, e.hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// agent is an enrolled fake agent: its machine and a client that presents
// the certificate the server issued to it.
type agent struct {
	id   d.MachineID
	name string
	hc   *http.Client
	c    *client.Client
}

// joinToken creates a join token through the API.
func (e *testEnv) joinToken(t *testing.T, in d.JoinTokenInput) string {
	t.Helper()
	tok, _, _, err := e.adminC.JoinTokenCreate(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// enrollInput returns an enrollment for a Linux host with a fresh key.
func enrollInput(t *testing.T, joinToken, name string) (d.EnrollInput, []byte) {
	t.Helper()
	key, csr, err := pki.NewKeyAndCSR(name)
	if err != nil {
		t.Fatal(err)
	}
	return d.EnrollInput{
		JoinToken: joinToken, Name: name, CSR: string(csr),
		Inventory: d.Inventory{Hostname: name, OS: "linux", AgentVersion: "test", Firewall: "nftables"},
	}, key
}

// enroll enrolls a fake agent through the real enroll route.
func (e *testEnv) enroll(t *testing.T, name string) *agent {
	t.Helper()
	in, key := enrollInput(t, e.joinToken(t, d.JoinTokenInput{}), name)
	var en d.Enrollment
	decode(t, e.call(t, "POST", "/api/v1/agent/enroll", "", in), http.StatusCreated, &en)
	return e.agentWithCert(t, en.MachineID, name, []byte(en.Certificate), key)
}

// agentWithCert returns an agent presenting certPEM.
func (e *testEnv) agentWithCert(t *testing.T, id d.MachineID, name string, certPEM, keyPEM []byte) *agent {
	t.Helper()
	tc, err := pki.ClientTLSConfig(e.pool, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := client.New(e.url, "", hc)
	if err != nil {
		t.Fatal(err)
	}
	return &agent{id: id, name: name, hc: hc, c: c}
}

// call sends one request as the agent.
func (a *agent) call(t *testing.T, e *testEnv, method, path string, body any) response {
	t.Helper()
	return send(t, a.hc, e.newRequest(t, method, path, "", body))
}

// state fetches the agent's desired state at once.
func (a *agent) state(t *testing.T) *d.DesiredState {
	t.Helper()
	ds, err := a.c.WatchState(t.Context(), a.id, 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// ack confirms the agent applied its current state.
func (a *agent) ack(t *testing.T, in d.AckInput) {
	t.Helper()
	if err := a.c.Ack(t.Context(), a.id, in); err != nil {
		t.Fatal(err)
	}
}

// policy sets a machine's rules as the admin.
func (e *testEnv) policy(t *testing.T, machine string, rules ...d.RuleInput) *d.Policy {
	t.Helper()
	p, err := e.adminC.PolicySet(t.Context(), machine, d.PolicyInput{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	return &p.Policy
}

// request creates an access request with token and expects success.
func (e *testEnv) request(t *testing.T, token string, in d.RequestInput) *d.Request {
	t.Helper()
	var r d.Request
	decode(t, e.call(t, "POST", "/api/v1/requests", token, in), http.StatusCreated, &r)
	return &r
}

// getRequest reads a request through the API as token.
func (e *testEnv) getRequest(t *testing.T, token string, id d.RequestID) *d.Request {
	t.Helper()
	var r d.Request
	decode(t, e.call(t, "GET", "/api/v1/requests/"+string(id), token, nil), http.StatusOK, &r)
	return &r
}

// ports is a one-machine target list.
func ports(machine string, ps ...uint16) []d.MachineTargets {
	mt := d.MachineTargets{Machine: machine}
	for _, p := range ps {
		mt.Ports = append(mt.Ports, d.PortTarget{Port: p})
	}
	return []d.MachineTargets{mt}
}

// snapshot is everything the API can change, read straight from the store.
type snapshot struct {
	Machines []d.Machine
	Policies []d.Policy
	Requests []d.Request
	Tokens   []d.Token
	Events   []d.Event
}

func (e *testEnv) snapshot(t *testing.T) snapshot {
	t.Helper()
	var s snapshot
	err := e.db.Read(t.Context(), func(tx *store.Tx) error {
		var err error
		if s.Machines, err = tx.Machines(); err != nil {
			return err
		}
		if s.Policies, err = tx.Policies(); err != nil {
			return err
		}
		if s.Requests, err = tx.Requests(store.RequestFilter{Limit: store.MaxLimit}); err != nil {
			return err
		}
		if s.Tokens, err = tx.Tokens(); err != nil {
			return err
		}
		s.Events, err = tx.Events(store.EventFilter{Limit: store.MaxLimit})
		// A refused attempt writes nothing but its own audit record.
		s.Events = slices.DeleteFunc(s.Events, refusal)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// refusal reports whether ev records a refused attempt.
func refusal(ev d.Event) bool {
	return ev.Action == d.EvAccessDenied || ev.Action == d.EvRequestRefused || ev.Action == d.EvAccessSuppressed
}

// wantUnchanged fails if anything in the store differs from before.
func (e *testEnv) wantUnchanged(t *testing.T, before snapshot) {
	t.Helper()
	if diff := cmp.Diff(before, e.snapshot(t), cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})); diff != "" {
		t.Errorf("store changed (-before +after):\n%s", diff)
	}
}

// machine returns the stored machine named name.
func (e *testEnv) machine(t *testing.T, name string) d.Machine {
	t.Helper()
	for _, m := range e.snapshot(t).Machines {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no machine %s", name)
	return d.Machine{}
}

// events returns the audit events after id.
func (e *testEnv) events(t *testing.T, after d.EventID) []d.Event {
	t.Helper()
	var es []d.Event
	err := e.db.Read(t.Context(), func(tx *store.Tx) error {
		var err error
		es, err = tx.Events(store.EventFilter{AfterID: after, Limit: store.MaxLimit})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// lastEventID returns the ID of the newest audit event.
func (e *testEnv) lastEventID(t *testing.T) d.EventID {
	t.Helper()
	es := e.events(t, 0)
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].ID
}

// auditLine is the part of an event the audit tests compare.
type auditLine struct {
	Actor, Action, Target, Result string
}

func auditLines(es []d.Event) []auditLine {
	out := make([]auditLine, 0, len(es))
	for _, e := range es {
		out = append(out, auditLine{e.Actor, e.Action, e.Target, e.Result})
	}
	return out
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	if dl, ok := t.Deadline(); ok && dl.Before(deadline) {
		deadline = dl.Add(-time.Second)
	}
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline, not synchronising by sleeping
	}
}

// watching reports whether someone long-polls topic on the server's hub
// ("machine:<id>" for an agent's state watch, "request:<id>" for a wait).
func (e *testEnv) watching(topic string) func() bool {
	return func() bool { return e.hub.Has(topic) }
}
