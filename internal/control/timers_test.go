package control

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// fakeSigner is never used by these tests (no agent enrolls).
type fakeSigner struct{}

func (fakeSigner) SignAgentCSR([]byte, string, time.Duration, time.Time) ([]byte, time.Time, error) {
	return nil, time.Time{}, nil
}
func (fakeSigner) CAPEM() []byte { return nil }

// newService opens a real SQLite store and a service on the bubble's clock.
func newService(t *testing.T) (*Service, *store.DB, d.Actor) {
	t.Helper()
	db, err := store.Open(context.Background(), "", t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := New(db, slog.New(slog.DiscardHandler), time.Now, NewHub(), fakeSigner{}, Observer{}, Config{})
	admin := d.Actor{Kind: d.ActorToken, ID: "tok_admin0000", Name: "admin", Role: d.RoleAdmin,
		RoleGrants: []d.RoleGrant{{Role: d.RoleAdmin, Actions: d.RoleAdmin.Actions(), Scope: d.ScopeAll}}}
	return svc, db, admin
}

func seedMachine(t *testing.T, db *store.DB, name string) *d.Machine {
	t.Helper()
	m := &d.Machine{ID: d.NewMachineID(), Name: name, EnrolledAt: time.Now(), LastSeen: time.Now(), StateVersion: 1, Inventory: d.Inventory{OS: "linux"}}
	if err := db.Tx(context.Background(), func(tx *store.Tx) error { return tx.MachineCreate(m) }); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPendingTTL: a request under manual approval that nobody approves
// expires at its pending TTL, through the real sweeper loop, on fake time.
func TestPendingTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, db, admin := newService(t)
		m := seedMachine(t, db, "web")
		on := true
		if _, err := svc.PolicySet(t.Context(), admin, m.Name, d.PolicyInput{
			Enabled: &on, Rules: []d.RuleInput{{Port: 22}},
			Approval: &d.ApprovalInput{Mode: d.ApprovalManual, PendingTTL: "30m"},
		}); err != nil {
			t.Fatal(err)
		}
		r, err := svc.RequestCreate(t.Context(), admin, d.RequestInput{
			Targets: []d.MachineTargets{{Machine: "web", Ports: []d.PortTarget{{Port: 22}}}}, Source: "198.51.100.7"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != d.StatusPending || !r.PendingUntil.Equal(time.Now().Add(30*time.Minute)) {
			t.Fatalf("want pending until +30m, got %s until %s", r.Status, r.PendingUntil)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { svc.RunExpiry(ctx, time.Second); close(done) }()

		time.Sleep(29*time.Minute + 58*time.Second)
		synctest.Wait()
		if got := status(t, svc, admin, r.ID); got != d.StatusPending {
			t.Fatalf("before the TTL: %s, want pending", got)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := status(t, svc, admin, r.ID); got != d.StatusExpired {
			t.Fatalf("after the TTL: %s, want expired", got)
		}
		cancel()
		<-done
	})
}

// TestApprovalWindowStartsAtFinalApproval: the access window is counted
// from the final approval, not from the request, and the grant expires in
// the record exactly at its end through the sweeper.
func TestApprovalWindowStartsAtFinalApproval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, db, admin := newService(t)
		m := seedMachine(t, db, "web")
		on := true
		if _, err := svc.PolicySet(t.Context(), admin, m.Name, d.PolicyInput{
			Enabled: &on, Rules: []d.RuleInput{{Port: 22}},
			Approval: &d.ApprovalInput{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 2}}},
		}); err != nil {
			t.Fatal(err)
		}
		requester := d.Actor{Kind: d.ActorToken, ID: "tok_alice0000", Name: "alice", RoleGrants: []d.RoleGrant{{Role: d.RoleRequester, Actions: d.RoleRequester.Actions(), Scope: d.ScopeAll}}}
		approver := func(id string) d.Actor {
			return d.Actor{Kind: d.ActorToken, ID: id, Name: id, RoleGrants: []d.RoleGrant{{Role: d.RoleApprover, Actions: d.RoleApprover.Actions(), Scope: d.ScopeAll}}}
		}
		r, err := svc.RequestCreate(t.Context(), requester, d.RequestInput{
			Targets: []d.MachineTargets{{Machine: "web", Ports: []d.PortTarget{{Port: 22}}}}, Source: "198.51.100.7", Duration: "10m"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Minute)
		if _, err := svc.Approve(t.Context(), approver("tok_ann000000"), r.ID, d.DecisionInput{}); err != nil {
			t.Fatal(err)
		}
		if got := status(t, svc, admin, r.ID); got != d.StatusPending {
			t.Fatalf("after one of two approvals: %s, want pending", got)
		}
		time.Sleep(5 * time.Minute)
		final := time.Now()
		got, err := svc.Approve(t.Context(), approver("tok_bob000000"), r.ID, d.DecisionInput{})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Start.Equal(final) || !got.End.Equal(final.Add(10*time.Minute)) || got.Status != d.StatusApplying {
			t.Fatalf("after quorum: %s from %s to %s, want applying from %s for 10m", got.Status, got.Start, got.End, final)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { svc.RunExpiry(ctx, time.Second); close(done) }()
		time.Sleep(10*time.Minute + 2*time.Second)
		synctest.Wait()
		if got := status(t, svc, admin, r.ID); got != d.StatusExpired {
			t.Fatalf("after the window: %s, want expired", got)
		}
		cancel()
		<-done
	})
}

func status(t *testing.T, svc *Service, a d.Actor, id d.RequestID) d.Status {
	t.Helper()
	r, err := svc.Request(t.Context(), a, id)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

// TestIdleCloseUnderSelectorPolicy: an idle timeout set on a label-selector
// policy closes idle grants of the machines it governs.
func TestIdleCloseUnderSelectorPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, db, admin := newService(t)
		m := seedMachine(t, db, "web")
		if _, err := svc.MachineLabel(t.Context(), admin, m.Name, d.LabelsInput{Set: map[string]string{"env": "prod"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SelectorPolicySet(t.Context(), admin, d.PolicyInput{
			Selector: "env=prod", Rules: []d.RuleInput{{Port: 22, MaxDuration: "1h", IdleTimeout: "5m"}}}); err != nil {
			t.Fatal(err)
		}
		r, err := svc.RequestCreate(t.Context(), admin, d.RequestInput{
			Targets: []d.MachineTargets{{Machine: "web", Ports: []d.PortTarget{{Port: 22}}}}, Source: "198.51.100.7", Duration: "30m"})
		if err != nil {
			t.Fatal(err)
		}
		tg := r.Targets[0]
		tg.Status, tg.AppliedAt = d.StatusActive, time.Now() // as an agent's ack would
		if err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.TargetUpdate(&tg) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * time.Minute)
		n, err := svc.CloseIdle(t.Context())
		if err != nil || n != 1 {
			t.Fatalf("CloseIdle = %d, %v; want the unused grant closed", n, err)
		}
		if got := status(t, svc, admin, r.ID); got != d.StatusRevoked {
			t.Fatalf("status %s, want revoked (idle)", got)
		}
	})
}
