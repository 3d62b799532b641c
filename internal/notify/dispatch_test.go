package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/control"
	"github.com/drawbridge/drawbridge/internal/notify"
	"github.com/drawbridge/drawbridge/internal/store"
)

// receiver is a real webhook receiver on 127.0.0.1 (httptest). It answers
// 500 to its first failures requests, then 204; while hang is open it
// holds every request until the client gives up.
type receiver struct {
	srv      *httptest.Server
	failures atomic.Int64
	hang     chan struct{}

	mu  sync.Mutex
	got []delivery
}

type delivery struct {
	header http.Header
	body   []byte
	n      d.Notification
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var n d.Notification
		_ = json.Unmarshal(body, &n)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{header: r.Header.Clone(), body: body, n: n})
		hang := rc.hang
		rc.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}
		if rc.failures.Add(-1) >= 0 {
			http.Error(w, "receiver down", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// kinds returns the kinds received so far, in order.
func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func (rc *receiver) count(k d.NotificationKind) int {
	n := 0
	for _, g := range rc.deliveries() {
		if g.n.Kind == k {
			n++
		}
	}
	return n
}

var admin = d.Actor{
	Kind: d.ActorToken, ID: "tok_admin0000", Name: "admin", Role: d.RoleAdmin,
	Source:     netip.MustParseAddr("203.0.113.7"),
	RoleGrants: []d.RoleGrant{{Role: d.RoleAdmin, Actions: d.AllActions(), Scope: d.ScopeAll}},
}

// fixture is a real SQLite database with a service, one machine "web-1"
// with an automatic policy for port 22, and a webhook to rc.
type fixture struct {
	db   *store.DB
	svc  *control.Service
	hook *d.Webhook
}

// newFixture must be closed by the caller (inside a synctest bubble, before
// the bubble ends).
func newFixture(t *testing.T, ctx context.Context, rc *receiver, in d.WebhookInput) *fixture {
	t.Helper()
	db, err := store.Open(ctx, "", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := control.New(db, slog.New(slog.DiscardHandler), time.Now, control.NewHub(), nil, control.Observer{}, control.Config{})
	err = db.Tx(ctx, func(tx *store.Tx) error {
		return tx.MachineCreate(&d.Machine{ID: d.NewMachineID(), Name: "web-1", EnrolledAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PolicySet(ctx, admin, "web-1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}}); err != nil {
		t.Fatal(err)
	}
	in.URL, in.AllowHTTP = rc.srv.URL+"/hook", true
	hook, err := svc.WebhookCreate(ctx, admin, in)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, svc: svc, hook: hook}
}

func (f *fixture) request(t *testing.T, ctx context.Context, dur string) *d.Request {
	t.Helper()
	r, err := f.svc.RequestCreate(ctx, admin, d.RequestInput{
		Targets:       []d.MachineTargets{{Machine: "web-1", Ports: []d.PortTarget{{Port: 22}}}},
		Duration:      dur,
		Justification: "INC-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) deliveries(t *testing.T, ctx context.Context) []d.Delivery {
	t.Helper()
	vs, err := f.svc.Deliveries(ctx, admin, control.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// run starts the dispatcher; the returned stop cancels it and waits.
func run(ctx context.Context, p *notify.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// noKeepAlive is the sender's transport inside synctest bubbles: an idle
// keep-alive connection would be a goroutine blocked on the network, which
// is never durably blocked, so the bubble's clock could not advance.
func noKeepAlive() http.RoundTripper { return &http.Transport{DisableKeepAlives: true} }

// TestDeliverySigned sends a real request's notification to a real
// receiver and verifies it as a receiver would.
func TestDeliverySigned(t *testing.T) {
	rc := newReceiver(t)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, ctx, rc, d.WebhookInput{Secret: "whsec_test_secret_0001"})
		defer f.db.Close()
		if f.hook.Secret != "whsec_test_secret_0001" {
			t.Errorf("create answered secret %q", f.hook.Secret)
		}
		stop := run(ctx, notify.New(f.db, notify.NewSender(0, noKeepAlive()), nil, time.Now, notify.Config{}))
		r := f.request(t, ctx, "10m")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		stop()

		got := rc.deliveries()
		if len(got) != 1 {
			t.Fatalf("received %d deliveries, want 1 (request.created)", len(got))
		}
		g := got[0]
		if err := notify.Verify("whsec_test_secret_0001", g.header.Get(notify.SignatureHeader), g.body, time.Now(), 0); err != nil {
			t.Errorf("signature: %v", err)
		}
		tampered := append([]byte(nil), g.body...)
		tampered[len(tampered)-2] ^= 1
		if err := notify.Verify("whsec_test_secret_0001", g.header.Get(notify.SignatureHeader), tampered, time.Now(), 0); err == nil {
			t.Error("a tampered body verified")
		}
		if g.n.Kind != d.NotifyCreated || g.n.Request == nil || g.n.Request.ID != r.ID || g.n.ActorName != "admin" {
			t.Errorf("notification = %+v, want request.created of %s by admin", g.n, r.ID)
		}
		if h := g.header.Get("Drawbridge-Delivery"); h == "" || h != string(g.n.ID) {
			t.Errorf("Drawbridge-Delivery = %q, body id %q: want the same delivery ID", h, g.n.ID)
		}
		if h := g.header.Get("Drawbridge-Event"); h != string(d.NotifyCreated) {
			t.Errorf("Drawbridge-Event = %q", h)
		}
		vs := f.deliveries(t, ctx)
		if len(vs) != 1 || vs[0].Status != d.DeliveryDelivered || vs[0].Attempts != 1 || vs[0].LastStatus != http.StatusNoContent {
			t.Errorf("deliveries = %s, want one delivered in 1 attempt", show(vs))
		}
		// The API never returns the secret after creation.
		ws, err := f.svc.Webhooks(ctx, admin)
		if err != nil || len(ws) != 1 || ws[0].Secret != "" {
			t.Errorf("Webhooks = %+v, %v; want one, without its secret", ws, err)
		}
	})
}

// TestRetryBackoffThenSuccess: two failures, retried after 30s then 60s
// (jitter off), then delivered.
func TestRetryBackoffThenSuccess(t *testing.T) {
	rc := newReceiver(t)
	rc.failures.Store(2)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, ctx, rc, d.WebhookInput{Events: []d.NotificationKind{d.NotifyCreated}})
		defer f.db.Close()
		cfg := notify.Config{Backoff: 30 * time.Second, Rand: func() float64 { return 1 }}
		stop := run(ctx, notify.New(f.db, notify.NewSender(0, noKeepAlive()), nil, time.Now, cfg))
		defer stop()
		start := time.Now()
		f.request(t, ctx, "1h")

		check := func(at time.Duration, attempts int, status d.DeliveryStatus) {
			t.Helper()
			time.Sleep(time.Until(start.Add(at)))
			synctest.Wait()
			vs := f.deliveries(t, ctx)
			if len(vs) != 1 || vs[0].Attempts != attempts || vs[0].Status != status {
				t.Fatalf("at %s: deliveries = %s, want 1 with %d attempts, %s", at, show(vs), attempts, status)
			}
		}
		// The first attempt comes at the first or second poll (0s or 1s).
		check(1500*time.Millisecond, 1, d.DeliveryPending)  // first attempt, failed
		check(29500*time.Millisecond, 1, d.DeliveryPending) // backoff 30s: not yet
		check(32*time.Second, 2, d.DeliveryPending)         // second attempt, failed
		check(89500*time.Millisecond, 2, d.DeliveryPending) // backoff 60s: not yet
		check(93*time.Second, 3, d.DeliveryDelivered)       // third attempt went through
		if n := len(rc.deliveries()); n != 3 {
			t.Errorf("receiver saw %d attempts, want 3", n)
		}
		ids := map[string]bool{}
		for _, g := range rc.deliveries() {
			ids[g.header.Get("Drawbridge-Delivery")] = true
		}
		if len(ids) != 1 {
			t.Errorf("retries carried %d delivery IDs, want the same one", len(ids))
		}
	})
}

// TestDeadLetter: after MaxAttempts failures the delivery is dead, listed
// as such, and an admin's retry delivers it.
func TestDeadLetter(t *testing.T) {
	rc := newReceiver(t)
	rc.failures.Store(1000)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, ctx, rc, d.WebhookInput{Events: []d.NotificationKind{d.NotifyCreated}})
		defer f.db.Close()
		cfg := notify.Config{MaxAttempts: 3, Backoff: 10 * time.Second, MaxBackoff: 20 * time.Second}
		stop := run(ctx, notify.New(f.db, notify.NewSender(0, noKeepAlive()), nil, time.Now, cfg))
		defer stop()
		f.request(t, ctx, "1h")
		time.Sleep(time.Minute) // three attempts: at 0, ≤10s, ≤20s later
		synctest.Wait()

		dead, err := f.svc.Deliveries(ctx, admin, control.DeliveryFilter{Status: d.DeliveryDead})
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) != 1 || dead[0].Attempts != 3 || dead[0].LastStatus != 500 || dead[0].LastError != "HTTP 500 Internal Server Error: receiver down" {
			t.Fatalf("dead = %s, want one after 3 attempts with the receiver's answer", show(dead))
		}
		time.Sleep(5 * time.Minute) // well past any backoff
		synctest.Wait()
		if n := len(rc.deliveries()); n != 3 {
			t.Fatalf("a dead delivery was attempted again: %d attempts", n)
		}

		rc.failures.Store(0)
		if _, err := f.svc.DeliveryRetry(ctx, admin, dead[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.DeliveryRetry(ctx, admin, dead[0].ID); d.ErrorKind(err) != d.Conflict {
			t.Errorf("retry of a pending delivery: %v, want Conflict", err)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		v, err := f.svc.Delivery(ctx, admin, dead[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != d.DeliveryDelivered || v.Attempts != 1 {
			t.Errorf("after retry: %s; want delivered in 1 attempt", show([]d.Delivery{*v}))
		}
	})
}

// TestExpiringOnce: a 10-minute grant with a 3-minute lead is announced
// once, about 3 minutes before its end, and not again at later polls.
func TestExpiringOnce(t *testing.T) {
	rc := newReceiver(t)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, ctx, rc, d.WebhookInput{Events: []d.NotificationKind{d.NotifyExpiring}})
		defer f.db.Close()
		stop := run(ctx, notify.New(f.db, notify.NewSender(0, noKeepAlive()), nil, time.Now, notify.Config{Lead: 3 * time.Minute}))
		defer stop()
		r := f.request(t, ctx, "10m")

		time.Sleep(r.End.Sub(time.Now()) - 3*time.Minute - 2*time.Second)
		synctest.Wait()
		if n := rc.count(d.NotifyExpiring); n != 0 {
			t.Fatalf("%d request.expiring before the lead time, want 0", n)
		}
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if n := rc.count(d.NotifyExpiring); n != 1 {
			t.Fatalf("%d request.expiring within the lead time, want 1", n)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		got := rc.deliveries()
		if len(got) != 1 {
			t.Fatalf("%d deliveries, want exactly one request.expiring", len(got))
		}
		n := got[0].n
		if n.Request == nil || n.Request.ID != r.ID || n.Reason != "ends in 3m" {
			t.Errorf("expiring notification = %+v, want request %s, reason \"ends in 3m\"", n, r.ID)
		}
	})
}

// TestRequestNotBlocked: a receiver that hangs holds one delivery slot up
// to the sender's timeout, but requests are created at their usual speed
// and their deliveries are still queued.
func TestRequestNotBlocked(t *testing.T) {
	rc := newReceiver(t)
	rc.hang = make(chan struct{})
	t.Cleanup(func() { close(rc.hang) }) // before the server closes (cleanups run last-in first-out)
	ctx := t.Context()
	f := newFixture(t, ctx, rc, d.WebhookInput{Events: []d.NotificationKind{d.NotifyCreated}})
	t.Cleanup(func() { f.db.Close() })
	p := notify.New(f.db, notify.NewSender(time.Minute, nil), nil, time.Now, notify.Config{Poll: 10 * time.Millisecond, Parallel: 1})
	stop := run(ctx, p)
	t.Cleanup(stop)

	f.request(t, ctx, "1h")
	deadline := time.Now().Add(time.Minute)
	for len(rc.deliveries()) == 0 { // the first delivery is now hanging
		if time.Now().After(deadline) {
			t.Fatal("the receiver never got the first delivery")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 5 {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		began := time.Now()
		f.request(t, cctx, "1h")
		cancel()
		if took := time.Since(began); took > 2*time.Second {
			t.Fatalf("request %d took %s while a receiver hangs", i+2, took)
		}
	}
	for {
		if vs := f.deliveries(t, ctx); len(vs) == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries queued = %d, want 6", len(f.deliveries(t, ctx)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// show lists deliveries without their bodies.
func show(vs []d.Delivery) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "[%s %s attempts=%d last=%d %q next=%s updated=%s] ", v.ID, v.Status, v.Attempts, v.LastStatus, v.LastError,
			v.NextAttempt.Format(time.TimeOnly), v.UpdatedAt.Format(time.TimeOnly))
	}
	return b.String()
}

// TestDeliveryOrderAndSnapshot: the notifications of one request arrive in
// the order of its events, each carrying the request as that event left
// it, even when the dispatcher reads them all in one batch after the last
// event, and even when an earlier one has to be retried.
func TestDeliveryOrderAndSnapshot(t *testing.T) {
	rc := newReceiver(t)
	rc.failures.Store(1) // the first delivery fails once, and is retried
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFixture(t, ctx, rc, d.WebhookInput{})
		defer f.db.Close()
		_, err := f.svc.PolicySet(ctx, admin, "web-1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}},
			Approval: &d.ApprovalInput{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 1}}}})
		if err != nil {
			t.Fatal(err)
		}
		approver := admin
		approver.ID, approver.Name = "tok_approver0", "ann"
		denied := f.request(t, ctx, "10m")
		if _, err := f.svc.Deny(ctx, approver, denied.ID, d.DecisionInput{Reason: "no ticket"}); err != nil {
			t.Fatal(err)
		}
		granted := f.request(t, ctx, "10m")
		if _, err := f.svc.Approve(ctx, approver, granted.ID, d.DecisionInput{Reason: "ok"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Revoke(ctx, admin, granted.ID, d.RevokeInput{Reason: "done"}); err != nil {
			t.Fatal(err)
		}

		// Only now does the dispatcher see the events, all in one batch.
		cfg := notify.Config{Backoff: 10 * time.Second, Rand: func() float64 { return 0 }}
		stop := run(ctx, notify.New(f.db, notify.NewSender(0, noKeepAlive()), nil, time.Now, cfg))
		time.Sleep(time.Minute)
		synctest.Wait()
		stop()

		type seen struct {
			kind   d.NotificationKind
			status d.Status
		}
		got := map[d.RequestID][]seen{}
		last := map[d.RequestID]d.DeliveryID{}
		all := rc.deliveries()
		for _, g := range all {
			if g.n.Request == nil {
				t.Fatalf("%s without its request", g.n.Kind)
			}
			id := g.n.Request.ID
			if last[id] == g.n.ID {
				continue // the retry of the delivery that failed
			}
			last[id] = g.n.ID
			got[id] = append(got[id], seen{g.n.Kind, g.n.Request.Status})
		}
		if len(all) != 8 {
			t.Errorf("receiver saw %d attempts, want 7 deliveries and 1 retry", len(all))
		}
		want := map[d.RequestID][]seen{
			denied.ID: {
				{d.NotifyCreated, d.StatusPending}, {d.NotifyApprovalNeeded, d.StatusPending}, {d.NotifyDenied, d.StatusDenied}},
			granted.ID: {
				{d.NotifyCreated, d.StatusPending}, {d.NotifyApprovalNeeded, d.StatusPending},
				{d.NotifyApproved, d.StatusApplying}, {d.NotifyRevoked, d.StatusRevoked}},
		}
		for id, w := range want {
			if fmt.Sprint(got[id]) != fmt.Sprint(w) {
				t.Errorf("request %s: received %v, want %v", id, got[id], w)
			}
		}
		for _, v := range f.deliveries(t, ctx) {
			if v.Status != d.DeliveryDelivered {
				t.Errorf("delivery %s of %s is %s", v.ID, v.Kind, v.Status)
			}
		}
	})
}
