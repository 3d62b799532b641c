package web_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// approvalIDs lists, sorted, the requests GET /api/v1/approvals offers token.
func (e *testEnv) approvalIDs(t *testing.T, token string) []d.RequestID {
	t.Helper()
	var out struct {
		Requests []d.Request `json:"requests"`
	}
	decode(t, e.call(t, "GET", "/api/v1/approvals", token, nil), http.StatusOK, &out)
	ids := requestIDs(out.Requests)
	slices.Sort(ids)
	return ids
}

func sortedIDs(ids ...d.RequestID) []d.RequestID {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// decideAs approves (or with a reason, denies) request id as token.
func (e *testEnv) decideAs(t *testing.T, token, verb string, id d.RequestID, in any) response {
	t.Helper()
	return e.call(t, "POST", "/api/v1/requests/"+string(id)+"/"+verb, token, in)
}

// grantOf returns the grant carrying target in a desired state.
func grantOf(ds *d.DesiredState, target d.TargetID) (d.GrantState, bool) {
	for _, g := range ds.Grants {
		if slices.Contains(g.Targets, target) {
			return g, true
		}
	}
	return d.GrantState{}, false
}

// setPolicy sets a machine's whole policy as the admin.
func (e *testEnv) setPolicy(t *testing.T, machine string, in d.PolicyInput) *d.Policy {
	t.Helper()
	var p d.Policy
	decode(t, e.call(t, "PUT", "/api/v1/machines/"+machine+"/policy", e.admin, in), http.StatusOK, &p)
	return &p
}

// bindToken binds a role at scope to an API token, through the API.
func (e *testEnv) bindToken(t *testing.T, id d.TokenID, role d.Role, scope string) d.Binding {
	t.Helper()
	var b d.Binding
	decode(t, e.call(t, "POST", "/api/v1/bindings", e.admin, d.BindingInput{Subject: "token:" + string(id), Role: role, Scope: scope}), http.StatusCreated, &b)
	return b
}

// TestApprovalFlow takes manual requests through both levels of a policy,
// denial and expiry, through the API, and watches the agent's desired state.
func TestApprovalFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	db := e.enroll(t, "db1")
	e.enrollLabelled(t, "pay", map[string]string{"env": "prod"})
	e.setPolicy(t, "db1", d.PolicyInput{
		Rules: []d.RuleInput{{Port: 5432, MaxDuration: "2h"}},
		Approval: &d.ApprovalInput{Mode: d.ApprovalManual, PendingTTL: "30m", Levels: []d.ApprovalLevel{
			{Quorum: 2},
			{Quorum: 1, Approvers: []string{"role:approver"}},
		}},
	})
	e.setPolicy(t, "pay", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Approval: &d.ApprovalInput{Mode: d.ApprovalManual}})

	alice, aliceID := e.token(t, "alice", d.RoleRequester)
	e.bindToken(t, aliceID, d.RoleApprover, "*") // alice may approve, but never her own requests
	bob, _ := e.token(t, "bob", d.RoleRequester)
	ann, _ := e.token(t, "ann", d.RoleApprover)
	ben, _ := e.token(t, "ben", d.RoleApprover)
	cat, _ := e.token(t, "cat", d.RoleApprover)
	boss, _ := e.token(t, "boss", d.RoleAdmin) // may approve requests, but holds no approver role
	boss2, _ := e.token(t, "boss2", d.RoleAdmin)
	pia, _ := e.scopedToken(t, "pia", d.RoleApprover, "env=prod")

	created := e.clock.Now()
	req := e.request(t, alice, d.RequestInput{Targets: ports("db1", 5432), Source: "10.1.2.3", Duration: "1h", Justification: "migration"})
	payReq := e.request(t, bob, d.RequestInput{Targets: ports("pay", 22), Source: "10.1.2.4"})

	t.Run("created pending, nothing for the agent", func(t *testing.T) {
		if req.Status != d.StatusPending || req.Targets[0].Status != d.StatusPending {
			t.Errorf("status = %s (target %s), want pending", req.Status, req.Targets[0].Status)
		}
		if !req.Start.IsZero() || !req.PendingUntil.Equal(created.Add(30*time.Minute)) {
			t.Errorf("start = %v, pending_until = %v; want no start and created+30m", req.Start, req.PendingUntil)
		}
		ds := db.state(t)
		if len(ds.Grants) != 0 {
			t.Errorf("desired state has grants %+v before approval", ds.Grants)
		}
		if !slices.Contains(ds.Protected, d.PortProto{Port: 5432, Protocol: d.TCP}) {
			t.Errorf("protected = %v, want 5432/tcp closed", ds.Protected)
		}
	})

	t.Run("approvals lists exactly what each caller may decide", func(t *testing.T) {
		tests := []struct {
			name  string
			token string
			want  []d.RequestID
		}{
			{"approver", ann, sortedIDs(req.ID, payReq.ID)},
			{"admin", boss, sortedIDs(req.ID, payReq.ID)},
			{"requester and approver: not her own", alice, sortedIDs(payReq.ID)},
			{"approver scoped to env=prod", pia, sortedIDs(payReq.ID)},
		}
		for _, tt := range tests {
			if diff := cmp.Diff(tt.want, e.approvalIDs(t, tt.token)); diff != "" {
				t.Errorf("%s: approvals (-want +got):\n%s", tt.name, diff)
			}
		}
		wantError(t, e.call(t, "GET", "/api/v1/approvals", bob, nil), http.StatusForbidden, d.Forbidden, "")
	})

	t.Run("refusals", func(t *testing.T) {
		before := e.snapshot(t)
		r := wantError(t, e.decideAs(t, alice, "approve", req.ID, nil), http.StatusForbidden, d.Forbidden, "")
		if !strings.Contains(r.Message, "self-approval") {
			t.Errorf("self-approval message = %q", r.Message)
		}
		wantError(t, e.decideAs(t, bob, "approve", req.ID, nil), http.StatusForbidden, d.Forbidden, "")
		wantError(t, e.decideAs(t, pia, "approve", req.ID, nil), http.StatusNotFound, d.NotFound, "") // cannot even see it
		wantError(t, e.decideAs(t, ann, "approve", "req_aaaaaaaaaaaaaaaaaaaa", nil), http.StatusNotFound, d.NotFound, "")
		wantError(t, e.decideAs(t, ann, "approve", "nope", nil), http.StatusBadRequest, d.Invalid, "id")
		e.wantUnchanged(t, before)
	})

	e.clock.Advance(10 * time.Minute)
	t.Run("first approval at level 1", func(t *testing.T) {
		var r d.Request
		decode(t, e.decideAs(t, ann, "approve", req.ID, d.DecisionInput{Reason: "looks fine"}), http.StatusOK, &r)
		if r.Status != d.StatusPending || len(r.Approvals) != 1 || r.Approvals[0].Level != 0 {
			t.Errorf("after one approval: status %s, approvals %+v; want pending with one level-0 approval", r.Status, r.Approvals)
		}
		before := e.snapshot(t)
		wantError(t, e.decideAs(t, ann, "approve", req.ID, nil), http.StatusConflict, d.Conflict, "")
		e.wantUnchanged(t, before)
		if diff := cmp.Diff(sortedIDs(payReq.ID), e.approvalIDs(t, ann)); diff != "" {
			t.Errorf("ann's approvals after deciding (-want +got):\n%s", diff)
		}
		if len(db.state(t).Grants) != 0 {
			t.Errorf("a grant went out before the quorum")
		}
	})

	t.Run("quorum at level 1, then level 2 needs role:approver", func(t *testing.T) {
		var r d.Request
		decode(t, e.decideAs(t, boss, "approve", req.ID, nil), http.StatusOK, &r)
		if r.Status != d.StatusPending {
			t.Errorf("after level 1: status %s, want pending for level 2", r.Status)
		}
		before := e.snapshot(t)
		msg := wantError(t, e.decideAs(t, boss2, "approve", req.ID, nil), http.StatusForbidden, d.Forbidden, "").Message
		if !strings.Contains(msg, "level 2") || !strings.Contains(msg, "role:approver") {
			t.Errorf("message = %q, want it to name level 2 and its approvers", msg)
		}
		e.wantUnchanged(t, before)
		if diff := cmp.Diff(sortedIDs(payReq.ID), e.approvalIDs(t, boss2)); diff != "" {
			t.Errorf("boss2 is no level-2 approver (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(sortedIDs(req.ID, payReq.ID), e.approvalIDs(t, ben)); diff != "" {
			t.Errorf("ben may decide level 2 (-want +got):\n%s", diff)
		}
	})

	e.clock.Advance(5 * time.Minute)
	final := e.clock.Now()
	t.Run("final approval opens the window from now", func(t *testing.T) {
		var r d.Request
		decode(t, e.decideAs(t, ben, "approve", req.ID, nil), http.StatusOK, &r)
		if r.Status != d.StatusApplying || r.Targets[0].Status != d.StatusApplying {
			t.Errorf("status = %s (target %s), want applying", r.Status, r.Targets[0].Status)
		}
		if !r.Start.Equal(final) || !r.End.Equal(final.Add(time.Hour)) || !r.Targets[0].End.Equal(r.End) {
			t.Errorf("start %v end %v (target end %v), want start at the final approval %v and end an hour later", r.Start, r.End, r.Targets[0].End, final)
		}
		if !r.PendingUntil.IsZero() {
			t.Errorf("pending_until = %v after approval", r.PendingUntil)
		}
		g, ok := grantOf(db.state(t), r.Targets[0].ID)
		if !ok || g.Port != 5432 || g.Source != netip.MustParsePrefix("10.1.2.3/32") || g.Remaining != d.Duration(time.Hour) {
			t.Errorf("grant = %+v (present %v), want 5432 from 10.1.2.3/32 for 1h", g, ok)
		}
		if ids := e.approvalIDs(t, cat); slices.Contains(ids, req.ID) {
			t.Errorf("an approved request is still offered: %v", ids)
		}
		wantError(t, e.decideAs(t, cat, "approve", req.ID, nil), http.StatusConflict, d.Conflict, "")
	})

	t.Run("deny needs a reason and ends the request", func(t *testing.T) {
		r2 := e.request(t, alice, d.RequestInput{Targets: ports("db1", 5432), Source: "10.1.2.5"})
		before := e.snapshot(t)
		wantError(t, e.decideAs(t, ann, "deny", r2.ID, nil), http.StatusBadRequest, d.Invalid, "reason")
		wantError(t, e.decideAs(t, ann, "deny", r2.ID, d.DecisionInput{Reason: "  "}), http.StatusBadRequest, d.Invalid, "reason")
		e.wantUnchanged(t, before)
		var r d.Request
		decode(t, e.decideAs(t, ann, "deny", r2.ID, d.DecisionInput{Reason: "not during the freeze"}), http.StatusOK, &r)
		if r.Status != d.StatusDenied || r.Targets[0].Status != d.StatusDenied || !strings.Contains(r.Targets[0].Reason, "not during the freeze") {
			t.Errorf("denied request = %s (%s %q)", r.Status, r.Targets[0].Status, r.Targets[0].Reason)
		}
		wantError(t, e.decideAs(t, ben, "approve", r2.ID, nil), http.StatusConflict, d.Conflict, "")
		if _, ok := grantOf(db.state(t), r2.Targets[0].ID); ok {
			t.Errorf("a denied request reached the agent")
		}
	})

	t.Run("pending TTL", func(t *testing.T) {
		r3 := e.request(t, alice, d.RequestInput{Targets: ports("db1", 5432), Source: "10.1.2.6"})
		if !r3.PendingUntil.Equal(e.clock.Now().Add(30 * time.Minute)) {
			t.Errorf("pending_until = %v, want now+30m (the policy's pending_ttl)", r3.PendingUntil)
		}
		e.clock.Advance(30*time.Minute + time.Second)
		// Past the deadline but not yet swept: already too late.
		wantError(t, e.decideAs(t, ann, "approve", r3.ID, nil), http.StatusConflict, d.Conflict, "")
		if ids := e.approvalIDs(t, ann); slices.Contains(ids, r3.ID) {
			t.Errorf("an overdue request is offered for approval: %v", ids)
		}
		n, err := e.svc.ExpirePending(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 { // the request on pay has the default TTL, 1h, and 45m have passed
			t.Errorf("ExpirePending = %d, want 1", n)
		}
		got := e.getRequest(t, alice, r3.ID)
		if got.Status != d.StatusExpired || got.Targets[0].Status != d.StatusExpired {
			t.Errorf("status = %s (target %s), want expired", got.Status, got.Targets[0].Status)
		}
		wantError(t, e.decideAs(t, ann, "approve", r3.ID, nil), http.StatusConflict, d.Conflict, "")
		if diff := cmp.Diff(sortedIDs(payReq.ID), e.approvalIDs(t, ann)); diff != "" {
			t.Errorf("approvals after expiry (-want +got):\n%s", diff)
		}
		if _, ok := grantOf(db.state(t), r3.Targets[0].ID); ok {
			t.Errorf("an expired request reached the agent")
		}
	})
}

// TestDone: only the requester ends its request early.
func TestDone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.enroll(t, "web1")
	e.policy(t, "web1", d.RuleInput{Port: 22})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	bob, _ := e.token(t, "bob", d.RoleRequester)
	reader, _ := e.token(t, "rita", d.RoleReader)
	r := e.request(t, alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3"})
	if _, ok := grantOf(a.state(t), r.Targets[0].ID); !ok {
		t.Fatal("no grant before done")
	}

	before := e.snapshot(t)
	path := "/api/v1/requests/" + string(r.ID) + "/done"
	wantError(t, e.call(t, "POST", path, bob, nil), http.StatusNotFound, d.NotFound, "")
	wantError(t, e.call(t, "POST", path, reader, nil), http.StatusForbidden, d.Forbidden, "")
	wantError(t, e.call(t, "POST", path, e.admin, nil), http.StatusForbidden, d.Forbidden, "")
	e.wantUnchanged(t, before)

	last := e.lastEventID(t)
	var got d.Request
	decode(t, e.call(t, "POST", path, alice, nil), http.StatusOK, &got)
	if got.Status != d.StatusRevoked || got.Targets[0].Status != d.StatusRevoked {
		t.Errorf("status = %s (target %s), want revoked", got.Status, got.Targets[0].Status)
	}
	if es := e.events(t, last); len(es) != 1 || es[0].Action != d.EvRequestDone || es[0].Target != string(r.ID) {
		t.Errorf("events = %+v, want one request.done", auditLines(es))
	}
	if len(a.state(t).Grants) != 0 {
		t.Errorf("grant still in the desired state after done")
	}
	wantError(t, e.call(t, "POST", path, alice, nil), http.StatusConflict, d.Conflict, "")
}

// TestExtend checks extensions against the policy's maximum, counted from
// the original start.
func TestExtend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.enroll(t, "web1")
	e.policy(t, "web1", d.RuleInput{Port: 22, MaxDuration: "2h"})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	bob, _ := e.token(t, "bob", d.RoleRequester)
	reader, _ := e.token(t, "rita", d.RoleReader)
	start := e.clock.Now()
	r := e.request(t, alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3", Duration: "1h"})
	path := "/api/v1/requests/" + string(r.ID) + "/extend"
	remaining := func() d.Duration {
		g, ok := grantOf(a.state(t), r.Targets[0].ID)
		if !ok {
			t.Fatal("grant missing from the desired state")
		}
		return g.Remaining
	}

	e.clock.Advance(30 * time.Minute)
	if got := remaining(); got != d.Duration(30*time.Minute) {
		t.Fatalf("remaining = %s, want 30m", got)
	}

	t.Run("within the maximum", func(t *testing.T) {
		var got d.Request
		decode(t, e.call(t, "POST", path, alice, d.ExtendInput{By: "30m"}), http.StatusOK, &got)
		if want := start.Add(90 * time.Minute); !got.End.Equal(want) || !got.Targets[0].End.Equal(want) || got.ExtendBy != 0 {
			t.Errorf("end = %v (target %v, extend_by %s), want %v at once", got.End, got.Targets[0].End, got.ExtendBy, want)
		}
		if got := remaining(); got != d.Duration(time.Hour) {
			t.Errorf("remaining = %s after extending, want 1h", got)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		before := e.snapshot(t)
		msg := wantError(t, e.call(t, "POST", path, alice, d.ExtendInput{By: "31m"}), http.StatusBadRequest, d.Invalid, "by").Message
		if !strings.Contains(msg, "2h") {
			t.Errorf("message %q does not name the maximum", msg)
		}
		wantError(t, e.call(t, "POST", path, alice, d.ExtendInput{By: "soon"}), http.StatusBadRequest, d.Invalid, "by")
		wantError(t, e.call(t, "POST", path, alice, d.ExtendInput{}), http.StatusBadRequest, d.Invalid, "by")
		wantError(t, e.call(t, "POST", path, bob, d.ExtendInput{By: "1m"}), http.StatusNotFound, d.NotFound, "")
		wantError(t, e.call(t, "POST", path, reader, d.ExtendInput{By: "1m"}), http.StatusForbidden, d.Forbidden, "")
		wantError(t, e.call(t, "POST", path, e.admin, d.ExtendInput{By: "1m"}), http.StatusForbidden, d.Forbidden, "")
		e.wantUnchanged(t, before)
	})

	t.Run("up to exactly the maximum", func(t *testing.T) {
		var got d.Request
		decode(t, e.call(t, "POST", path, alice, d.ExtendInput{By: "30m"}), http.StatusOK, &got)
		if want := start.Add(2 * time.Hour); !got.End.Equal(want) {
			t.Errorf("end = %v, want %v", got.End, want)
		}
		wantError(t, e.call(t, "POST", path, alice, d.ExtendInput{By: "1s"}), http.StatusBadRequest, d.Invalid, "by")
	})

	t.Run("ended requests cannot be extended", func(t *testing.T) {
		decode(t, e.call(t, "POST", "/api/v1/requests/"+string(r.ID)+"/done", alice, nil), http.StatusOK, nil)
		wantError(t, e.call(t, "POST", path, alice, d.ExtendInput{By: "1m"}), http.StatusConflict, d.Conflict, "")
	})
}

// TestExtendNeedsApproval: under manual approval, an extension waits for an
// approver, every time it is asked for.
func TestExtendNeedsApproval(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.enroll(t, "db1")
	e.setPolicy(t, "db1", d.PolicyInput{Rules: []d.RuleInput{{Port: 5432, MaxDuration: "3h"}}, Approval: &d.ApprovalInput{Mode: d.ApprovalManual}})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	ann, _ := e.token(t, "ann", d.RoleApprover)
	ben, _ := e.token(t, "ben", d.RoleApprover)
	r := e.request(t, alice, d.RequestInput{Targets: ports("db1", 5432), Source: "10.1.2.3", Duration: "1h"})
	var approved d.Request
	decode(t, e.decideAs(t, ann, "approve", r.ID, nil), http.StatusOK, &approved)
	end := approved.End
	path := "/api/v1/requests/" + string(r.ID) + "/extend"
	notAfter := func() time.Time {
		g, ok := grantOf(a.state(t), r.Targets[0].ID)
		if !ok {
			t.Fatal("grant missing from the desired state")
		}
		return g.NotAfter
	}

	for i, by := range []time.Duration{30 * time.Minute, 10 * time.Minute} {
		var got d.Request
		decode(t, e.call(t, "POST", path, alice, d.ExtendInput{By: d.Duration(by).String(), Reason: "still migrating"}), http.StatusOK, &got)
		if got.ExtendBy != d.Duration(by) || !got.End.Equal(end) {
			t.Errorf("extension %d: extend_by %s, end %v; want %s waiting and the end unchanged (%v)", i+1, got.ExtendBy, got.End, d.Duration(by), end)
		}
		if !notAfter().Equal(end) {
			t.Errorf("extension %d: the agent's grant moved before approval", i+1)
		}
		wantError(t, e.call(t, "POST", path, alice, d.ExtendInput{By: "1m"}), http.StatusConflict, d.Conflict, "")
		if diff := cmp.Diff(sortedIDs(r.ID), e.approvalIDs(t, ben)); diff != "" {
			t.Errorf("extension %d: ben's approvals (-want +got):\n%s", i+1, diff)
		}
		// The same approver may approve each extension (a new decision).
		got = d.Request{}
		decode(t, e.decideAs(t, ann, "approve", r.ID, nil), http.StatusOK, &got)
		end = end.Add(by)
		if got.ExtendBy != 0 || !got.End.Equal(end) || !got.Targets[0].End.Equal(end) {
			t.Errorf("extension %d approved: extend_by %s, end %v (target %v); want the end at %v", i+1, got.ExtendBy, got.End, got.Targets[0].End, end)
		}
		if !notAfter().Equal(end) {
			t.Errorf("extension %d approved: the agent's grant ends %v, want %v", i+1, notAfter(), end)
		}
		wantError(t, e.decideAs(t, ben, "approve", r.ID, nil), http.StatusConflict, d.Conflict, "")
	}

	t.Run("a denied extension leaves the end", func(t *testing.T) {
		decode(t, e.call(t, "POST", path, alice, d.ExtendInput{By: "5m"}), http.StatusOK, nil)
		var got d.Request
		decode(t, e.decideAs(t, ben, "deny", r.ID, d.DecisionInput{Reason: "enough"}), http.StatusOK, &got)
		if got.ExtendBy != 0 || !got.End.Equal(end) || got.Status != d.StatusApplying {
			t.Errorf("after denial: extend_by %s, end %v, status %s; want nothing waiting, end %v, still applying", got.ExtendBy, got.End, got.Status, end)
		}
		// And the next one can still be asked for and approved.
		decode(t, e.call(t, "POST", path, alice, d.ExtendInput{By: "5m"}), http.StatusOK, nil)
		got = d.Request{}
		decode(t, e.decideAs(t, ben, "approve", r.ID, nil), http.StatusOK, &got)
		if want := end.Add(5 * time.Minute); !got.End.Equal(want) {
			t.Errorf("end = %v, want %v", got.End, want)
		}
	})
}

// TestDryRun: what a request would open, without changing anything.
func TestDryRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	e.enroll(t, "db1")
	e.policy(t, "web1", d.RuleInput{Port: 22, MaxDuration: "2h"})
	e.setPolicy(t, "db1", d.PolicyInput{Rules: []d.RuleInput{{Port: 5432}}, Approval: &d.ApprovalInput{Mode: d.ApprovalManual}})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	reader, _ := e.token(t, "rita", d.RoleReader)
	now := e.clock.Now()

	tests := []struct {
		name          string
		in            d.RequestInput
		needsApproval bool
		end           time.Time
		targets       []string // machine port source
	}{
		{"automatic", d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3", Duration: "90m"}, false, now.Add(90 * time.Minute), []string{"web1 22 10.1.2.3/32"}},
		{"manual", d.RequestInput{Targets: ports("db1", 5432), Source: "10.1.2.0/24"}, true, time.Time{}, []string{"db1 5432 10.1.2.0/24"}},
		{"both", d.RequestInput{Targets: append(ports("web1", 22), ports("db1", 5432)...), Source: "10.1.2.3"}, true, time.Time{}, []string{"web1 22 10.1.2.3/32", "db1 5432 10.1.2.3/32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			var got d.DryRunResult
			decode(t, e.call(t, "POST", "/api/v1/requests?dry_run=true", alice, tt.in), http.StatusOK, &got)
			e.wantUnchanged(t, before)
			var targets []string
			for _, tg := range got.Targets {
				targets = append(targets, fmt.Sprintf("%s %d %s", tg.MachineName, tg.Port, tg.Source))
			}
			if diff := cmp.Diff(tt.targets, targets); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			if got.NeedsApproval != tt.needsApproval || !got.End.Equal(tt.end) {
				t.Errorf("needs_approval %v, end %v; want %v, %v", got.NeedsApproval, got.End, tt.needsApproval, tt.end)
			}
		})
	}
	t.Run("the same refusals as a real request", func(t *testing.T) {
		before := e.snapshot(t)
		wantError(t, e.call(t, "POST", "/api/v1/requests?dry_run=true", alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3", Duration: "3h"}), http.StatusBadRequest, d.Invalid, "duration")
		wantError(t, e.call(t, "POST", "/api/v1/requests?dry_run=true", alice, d.RequestInput{Targets: ports("web1", 8080), Source: "10.1.2.3"}), http.StatusBadRequest, d.Invalid, "targets[0].ports[0].port")
		wantError(t, e.call(t, "POST", "/api/v1/requests?dry_run=true", reader, d.RequestInput{Targets: ports("web1", 22)}), http.StatusForbidden, d.Forbidden, "")
		wantError(t, e.call(t, "POST", "/api/v1/requests?dry_run=maybe", alice, d.RequestInput{Targets: ports("web1", 22)}), http.StatusBadRequest, d.Invalid, "dry_run")
		e.wantUnchanged(t, before)
	})
}

// TestJustificationRules: required, and required to match a pattern, with
// the hint in the refusal.
func TestJustificationRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	e.enroll(t, "db1")
	e.setPolicy(t, "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Justification: &d.JustificationRule{Mode: d.JustificationRequired, Hint: "say what you will change"}})
	e.setPolicy(t, "db1", d.PolicyInput{Rules: []d.RuleInput{{Port: 5432}}, Justification: &d.JustificationRule{Mode: d.JustificationPattern, Pattern: "^INC-[0-9]+", Hint: "an incident ticket, INC-1234"}})
	alice, _ := e.token(t, "alice", d.RoleRequester)

	tests := []struct {
		name, machine string
		port          uint16
		justification string
		msg           []string // parts of the message
	}{
		{"required, missing", "web1", 22, "", []string{"required", "say what you will change"}},
		{"required, blank", "web1", 22, "   ", []string{"required"}},
		{"pattern, missing", "db1", 5432, "", []string{"^INC-[0-9]+", "an incident ticket, INC-1234"}},
		{"pattern, no ticket", "db1", 5432, "fixing the disk", []string{"^INC-[0-9]+", "an incident ticket, INC-1234"}},
		{"pattern, ticket not first", "db1", 5432, "see INC-42", []string{"INC-1234"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			in := d.RequestInput{Targets: ports(tt.machine, tt.port), Source: "10.1.2.3", Justification: tt.justification}
			msg := wantError(t, e.call(t, "POST", "/api/v1/requests", alice, in), http.StatusBadRequest, d.Invalid, "justification").Message
			for _, part := range tt.msg {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
			e.wantUnchanged(t, before)
		})
	}
	t.Run("accepted", func(t *testing.T) {
		e.request(t, alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3", Justification: "rotate certificates"})
		e.request(t, alice, d.RequestInput{Targets: ports("db1", 5432), Source: "10.1.2.3", Justification: "INC-42 disk full"})
	})
	t.Run("invalid pattern refused at write time", func(t *testing.T) {
		in := d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Justification: &d.JustificationRule{Mode: d.JustificationPattern, Pattern: "(["}}
		wantError(t, e.call(t, "PUT", "/api/v1/machines/web1/policy", e.admin, in), http.StatusBadRequest, d.Invalid, "justification.pattern")
	})
}

// TestLimits: open grants per person, and no wide sources on a guarded policy.
func TestLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	e.enroll(t, "prod1")
	e.setPolicy(t, "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Limits: &d.Limits{MaxActivePerUser: 1}})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	bob, _ := e.token(t, "bob", d.RoleRequester)

	t.Run("max_active_per_user", func(t *testing.T) {
		first := e.request(t, alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3"})
		before := e.snapshot(t)
		wantError(t, e.call(t, "POST", "/api/v1/requests", alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.4"}), http.StatusConflict, d.Conflict, "targets[0].machine")
		e.wantUnchanged(t, before)
		e.request(t, bob, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.5"}) // per person
		decode(t, e.call(t, "POST", "/api/v1/requests/"+string(first.ID)+"/done", alice, nil), http.StatusOK, nil)
		e.request(t, alice, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.4"}) // a slot is free again
	})

	t.Run("deny_any_source refuses * in the policy", func(t *testing.T) {
		before := e.snapshot(t)
		for _, rules := range [][]d.RuleInput{
			{{Port: 22, AllowedSources: []string{"*"}}},
			{{Port: 22}}, // no sources means any
			{{Port: 22, AllowedSources: []string{"10.1.0.0/16"}}, {Port: 443, AllowedSources: []string{"0.0.0.0/0"}}},
		} {
			field := "rules[0].allowed_sources"
			if len(rules) == 2 {
				field = "rules[1].allowed_sources"
			}
			in := d.PolicyInput{Rules: rules, Limits: &d.Limits{DenyAnySource: true}}
			wantError(t, e.call(t, "PUT", "/api/v1/machines/prod1/policy", e.admin, in), http.StatusBadRequest, d.Invalid, field)
		}
		e.wantUnchanged(t, before)
	})

	t.Run("deny_any_source counts addresses over all the policy's sources", func(t *testing.T) {
		before := e.snapshot(t)
		for name, rules := range map[string][]d.RuleInput{
			"two halves of IPv4":   {{Port: 22, AllowedSources: []string{"0.0.0.0/1", "128.0.0.0/1"}}},
			"::/1":                 {{Port: 22, AllowedSources: []string{"::/1"}}},
			"NAT64 of all IPv4":    {{Port: 22, AllowedSources: []string{"64:ff9b::/96"}}},
			"IPv4-compatible":      {{Port: 22, AllowedSources: []string{"::/96"}}},
			"IPv4-mapped":          {{Port: 22, AllowedSources: []string{"::ffff:0:0/96"}}},
			"a /8":                 {{Port: 22, AllowedSources: []string{"10.0.0.0/8"}}},
			"a /16 on each of two": {{Port: 22, AllowedSources: []string{"10.1.0.0/16"}}, {Port: 443, AllowedSources: []string{"10.2.0.0/16"}}},
		} {
			t.Run(name, func(t *testing.T) {
				in := d.PolicyInput{Rules: rules, Limits: &d.Limits{DenyAnySource: true}}
				field := fmt.Sprintf("rules[%d].allowed_sources", len(rules)-1)
				wantError(t, e.call(t, "PUT", "/api/v1/machines/prod1/policy", e.admin, in), http.StatusBadRequest, d.Invalid, field)
			})
		}
		e.wantUnchanged(t, before)
	})

	t.Run("deny_any_source refuses wide request sources", func(t *testing.T) {
		// A policy written before sources were counted may allow a /8;
		// requests under it are still held to a /16 in all.
		m := e.machine(t, "prod1")
		err := e.db.Tx(t.Context(), func(tx *store.Tx) error {
			return tx.PolicyPut(&d.Policy{MachineID: m.ID, Enabled: true, Limits: d.Limits{DenyAnySource: true}, Rules: []d.PortRule{
				{Port: 22, Protocol: d.TCP, AllowedSources: []string{"10.0.0.0/8"}, MaxDuration: d.Duration(time.Hour)},
				{Port: 443, Protocol: d.TCP, AllowedSources: []string{"10.0.0.0/8"}, MaxDuration: d.Duration(time.Hour)},
			}})
		})
		if err != nil {
			t.Fatal(err)
		}
		before := e.snapshot(t)
		wantError(t, e.call(t, "POST", "/api/v1/requests", alice, d.RequestInput{Targets: ports("prod1", 22), Source: "10.0.0.0/8"}), http.StatusBadRequest, d.Invalid, "targets[0].ports[0].source")
		twoSixteens := d.RequestInput{Targets: []d.MachineTargets{{Machine: "prod1", Ports: []d.PortTarget{{Port: 22, Source: "10.1.0.0/16"}, {Port: 443, Source: "10.2.0.0/16"}}}}}
		wantError(t, e.call(t, "POST", "/api/v1/requests", alice, twoSixteens), http.StatusBadRequest, d.Invalid, "targets[0].ports[1].source")
		e.wantUnchanged(t, before)
		e.request(t, alice, d.RequestInput{Targets: ports("prod1", 22), Source: "10.1.0.0/16"})
		e.request(t, bob, d.RequestInput{Targets: ports("prod1", 22), Source: "10.1.2.3"})
	})
}

// TestSelectorPolicies: precedence (own policy, then the most specific
// selector), conflicts refused at write time, and deletion revoking grants
// that lose coverage.
func TestSelectorPolicies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	web := e.enrollLabelled(t, "webbox", map[string]string{"env": "prod"})
	db := e.enrollLabelled(t, "dbbox", map[string]string{"env": "prod", "team": "db"})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	governing := func(t *testing.T, machine string) d.Policy {
		t.Helper()
		var p d.Policy
		decode(t, e.call(t, "GET", "/api/v1/machines/"+machine+"/policy", alice, nil), http.StatusOK, &p)
		return p
	}

	prod := e.selectorPolicy(t, "env=prod", d.RuleInput{Port: 22})
	t.Run("a machine with no policy of its own is governed by a matching selector", func(t *testing.T) {
		for _, m := range []string{"webbox", "dbbox"} {
			if p := governing(t, m); p.ID != prod || p.Selector != "env=prod" {
				t.Errorf("%s governed by %q (%s), want env=prod", m, p.Selector, p.ID)
			}
		}
		if got := web.state(t).Protected; !slices.Contains(got, d.PortProto{Port: 22, Protocol: d.TCP}) {
			t.Errorf("webbox protects %v, want 22/tcp", got)
		}
	})

	prodDB := e.selectorPolicy(t, "team=db,env=prod", d.RuleInput{Port: 5432})
	t.Run("the more specific selector wins", func(t *testing.T) {
		if p := governing(t, "dbbox"); p.ID != prodDB || p.Selector != "env=prod,team=db" {
			t.Errorf("dbbox governed by %q (%s), want env=prod,team=db", p.Selector, p.ID)
		}
		if p := governing(t, "webbox"); p.ID != prod {
			t.Errorf("webbox governed by %q, want env=prod", p.Selector)
		}
		wantError(t, e.call(t, "POST", "/api/v1/requests", alice, d.RequestInput{Targets: ports("dbbox", 22), Source: "10.1.2.3"}), http.StatusBadRequest, d.Invalid, "targets[0].ports[0].port")
		if got := db.state(t).Protected; !cmp.Equal(got, []d.PortProto{{Port: 5432, Protocol: d.TCP}}) {
			t.Errorf("dbbox protects %v, want 5432/tcp only", got)
		}
	})

	t.Run("equal specificity overlapping is refused", func(t *testing.T) {
		before := e.snapshot(t)
		for _, sel := range []string{"team=db", "env=prod,tier=web"} {
			in := d.PolicyInput{Selector: sel, Rules: []d.RuleInput{{Port: 80}}}
			wantError(t, e.call(t, "POST", "/api/v1/selector-policies", e.admin, in), http.StatusBadRequest, d.Invalid, "selector")
		}
		e.wantUnchanged(t, before)
		var out struct{ Policies []d.Policy }
		decode(t, e.call(t, "GET", "/api/v1/selector-policies", e.admin, nil), http.StatusOK, &out)
		if len(out.Policies) != 2 {
			t.Errorf("selector policies = %+v, want the two", out.Policies)
		}
		// Disjoint selectors with as many terms are fine.
		e.selectorPolicy(t, "env=dev", d.RuleInput{Port: 22})
	})

	webReq := e.request(t, alice, d.RequestInput{Targets: ports("webbox", 22), Source: "10.1.2.3"})
	dbReq := e.request(t, alice, d.RequestInput{Targets: ports("dbbox", 5432), Source: "10.1.2.3"})

	t.Run("its own policy wins over both", func(t *testing.T) {
		e.setPolicy(t, "dbbox", d.PolicyInput{Rules: []d.RuleInput{{Port: 5432}, {Port: 2222}}})
		if p := governing(t, "dbbox"); p.Selector != "" || p.MachineID != db.id {
			t.Errorf("dbbox governed by %q (%s), want its own policy", p.Selector, p.MachineID)
		}
		e.request(t, alice, d.RequestInput{Targets: ports("dbbox", 2222), Source: "10.1.2.3"})
		if got := e.getRequest(t, alice, dbReq.ID).Status; got != d.StatusApplying {
			t.Errorf("dbbox request %s after its own policy, want applying (still covered)", got)
		}
	})

	t.Run("deleting a selector policy revokes grants that lose coverage", func(t *testing.T) {
		decode(t, e.call(t, "DELETE", "/api/v1/selector-policies/"+prod, e.admin, nil), http.StatusNoContent, nil)
		got := e.getRequest(t, alice, webReq.ID)
		if got.Status != d.StatusRevoked || got.Targets[0].Status != d.StatusRevoked {
			t.Errorf("webbox request %s (target %s), want revoked", got.Status, got.Targets[0].Status)
		}
		if ds := web.state(t); len(ds.Grants) != 0 || len(ds.Protected) != 0 {
			t.Errorf("webbox desired state %+v, want nothing protected or granted", ds)
		}
		if got := e.getRequest(t, alice, dbReq.ID).Status; got != d.StatusApplying {
			t.Errorf("dbbox request %s, want applying (its own policy covers it)", got)
		}
		if _, ok := grantOf(db.state(t), dbReq.Targets[0].ID); !ok {
			t.Errorf("dbbox grant gone")
		}
		wantError(t, e.call(t, "GET", "/api/v1/machines/webbox/policy", alice, nil), http.StatusNotFound, d.NotFound, "")
		wantError(t, e.call(t, "DELETE", "/api/v1/selector-policies/"+prod, e.admin, nil), http.StatusNotFound, d.NotFound, "")
	})
}

// TestRelabel: moving a machine out of a scoped requester's labels hides it
// from that requester, and revokes nothing.
func TestRelabel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.enrollLabelled(t, "devbox", map[string]string{"env": "dev"})
	e.policy(t, "devbox", d.RuleInput{Port: 22})
	dana, _ := e.scopedToken(t, "dana", d.RoleRequester, "env=dev")
	alice, _ := e.token(t, "alice", d.RoleRequester)
	danaReq := e.request(t, dana, d.RequestInput{Targets: ports("devbox", 22), Source: "10.1.2.3"})
	aliceReq := e.request(t, alice, d.RequestInput{Targets: ports("devbox", 22), Source: "10.1.2.4"})
	wantGrants := func(t *testing.T) {
		t.Helper()
		ds := a.state(t)
		for _, r := range []*d.Request{danaReq, aliceReq} {
			if _, ok := grantOf(ds, r.Targets[0].ID); !ok {
				t.Errorf("grant of %s missing", r.ID)
			}
			if got := e.getRequest(t, e.admin, r.ID).Status; got != d.StatusApplying {
				t.Errorf("request %s is %s, want applying", r.ID, got)
			}
		}
	}
	wantGrants(t)
	decode(t, e.call(t, "GET", "/api/v1/machines/devbox", dana, nil), http.StatusOK, nil)

	last := e.lastEventID(t)
	var m d.Machine
	decode(t, e.call(t, "PATCH", "/api/v1/machines/devbox/labels", e.admin, d.LabelsInput{Set: map[string]string{"env": "stage"}}), http.StatusOK, &m)
	if !cmp.Equal(m.Labels, map[string]string{"env": "stage"}) {
		t.Errorf("labels = %v", m.Labels)
	}
	if es := e.events(t, last); len(es) != 1 || es[0].Action != d.EvMachineRelabelled {
		t.Errorf("events = %+v, want only machine.relabelled", auditLines(es))
	}

	// Out of scope reads exactly as an unknown machine does: same message,
	// no field (no existence oracle).
	hidden := wantError(t, e.call(t, "GET", "/api/v1/machines/devbox", dana, nil), http.StatusNotFound, d.NotFound, "")
	unknown := wantError(t, e.call(t, "GET", "/api/v1/machines/nosuchbox", dana, nil), http.StatusNotFound, d.NotFound, "")
	if want := strings.Replace(unknown.Message, "nosuchbox", "devbox", 1); hidden.Message != want {
		t.Errorf("out-of-scope machine says %q, an unknown one %q: they must read alike", hidden.Message, unknown.Message)
	}
	wantError(t, e.call(t, "GET", "/api/v1/machines/devbox/policy", dana, nil), http.StatusNotFound, d.NotFound, "")
	wantError(t, e.call(t, "POST", "/api/v1/requests", dana, d.RequestInput{Targets: ports("devbox", 22), Source: "10.1.2.3"}), http.StatusNotFound, d.NotFound, "targets[0].machine")
	var list struct{ Machines []d.MachineView }
	decode(t, e.call(t, "GET", "/api/v1/machines", dana, nil), http.StatusOK, &list)
	if len(list.Machines) != 0 {
		t.Errorf("dana lists %d machines, want none", len(list.Machines))
	}
	e.getRequest(t, dana, danaReq.ID) // her own request stays hers to see
	e.request(t, alice, d.RequestInput{Targets: ports("devbox", 22), Source: "10.1.2.5"})
	wantGrants(t)

	t.Run("labels are an admin's everywhere", func(t *testing.T) {
		devAdmin, _ := e.scopedToken(t, "devadmin", d.RoleAdmin, "env=stage")
		wantError(t, e.call(t, "PATCH", "/api/v1/machines/devbox/labels", devAdmin, d.LabelsInput{Set: map[string]string{"env": "dev"}}), http.StatusForbidden, d.Forbidden, "")
		wantError(t, e.call(t, "PATCH", "/api/v1/machines/devbox/labels", e.admin, d.LabelsInput{Set: map[string]string{"bad key": "x"}}), http.StatusBadRequest, d.Invalid, "labels")
	})
}

// TestBindings: a token with no role of its own gets what its bindings give.
func TestBindings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enrollLabelled(t, "devbox", map[string]string{"env": "dev"})
	e.enrollLabelled(t, "prodbox", map[string]string{"env": "prod"})
	e.policy(t, "devbox", d.RuleInput{Port: 22})
	e.policy(t, "prodbox", d.RuleInput{Port: 22})
	robot, robotID := e.scopedToken(t, "robot", d.RoleNone, "")
	ask := func(machine string) response {
		return e.call(t, "POST", "/api/v1/requests", robot, d.RequestInput{Targets: ports(machine, 22), Source: "10.1.2.3"})
	}

	wantError(t, ask("devbox"), http.StatusForbidden, d.Forbidden, "")
	b := e.bindToken(t, robotID, d.RoleRequester, "machine:devbox")
	if b.Scope != d.Scope("machine:"+string(e.machine(t, "devbox").ID)) {
		t.Errorf("binding scope = %q, want the machine's ID", b.Scope)
	}
	decode(t, ask("devbox"), http.StatusCreated, nil)
	wantError(t, ask("prodbox"), http.StatusNotFound, d.NotFound, "targets[0].machine")
	var who whoami
	decode(t, e.call(t, "GET", "/api/v1/whoami", robot, nil), http.StatusOK, &who)
	if len(who.Actor.Grants) != 1 || who.Actor.Grants[0].Role != d.RoleRequester || who.Actor.Grants[0].Scope != b.Scope {
		t.Errorf("grants = %+v, want requester at %s only", who.Actor.Grants, b.Scope)
	}

	decode(t, e.call(t, "DELETE", "/api/v1/bindings/"+b.ID, e.admin, nil), http.StatusOK, nil)
	wantError(t, ask("devbox"), http.StatusForbidden, d.Forbidden, "")

	t.Run("refusals", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			in    d.BindingInput
			field string
		}{
			{"bad subject", d.BindingInput{Subject: "robot", Role: d.RoleReader}, "subject"},
			{"unknown role", d.BindingInput{Subject: "user:x", Role: "wizard"}, "role"},
			{"bad scope", d.BindingInput{Subject: "user:x", Role: d.RoleReader, Scope: "env"}, "scope"},
		} {
			before := e.snapshot(t)
			wantError(t, e.call(t, "POST", "/api/v1/bindings", e.admin, tt.in), http.StatusBadRequest, d.Invalid, tt.field)
			e.wantUnchanged(t, before)
		}
		wantError(t, e.call(t, "POST", "/api/v1/bindings", e.admin, d.BindingInput{Subject: "user:x", Role: d.RoleReader, Scope: "machine:nope"}), http.StatusNotFound, d.NotFound, "scope")
	})
}

// TestCustomRoles: lists of known actions, which cannot go while bound.
func TestCustomRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enrollLabelled(t, "devbox", map[string]string{"env": "dev"})
	e.policy(t, "devbox", d.RuleInput{Port: 22})

	before := e.snapshot(t)
	wantError(t, e.call(t, "POST", "/api/v1/roles", e.admin, d.RoleInput{Name: "opener", Actions: []d.Action{d.ActRequestsInitiate, "launch/missiles"}}), http.StatusBadRequest, d.Invalid, "actions[1]")
	wantError(t, e.call(t, "POST", "/api/v1/roles", e.admin, d.RoleInput{Name: "opener"}), http.StatusBadRequest, d.Invalid, "actions")
	wantError(t, e.call(t, "POST", "/api/v1/roles", e.admin, d.RoleInput{Name: "admin", Actions: []d.Action{d.ActMachinesRead}}), http.StatusBadRequest, d.Invalid, "name")
	e.wantUnchanged(t, before)

	decode(t, e.call(t, "POST", "/api/v1/roles", e.admin, d.RoleInput{Name: "opener", Actions: []d.Action{d.ActRequestsInitiate, d.ActMachinesRead}}), http.StatusCreated, nil)
	wantError(t, e.call(t, "POST", "/api/v1/roles", e.admin, d.RoleInput{Name: "opener", Actions: []d.Action{d.ActMachinesRead}}), http.StatusConflict, d.Conflict, "")
	wantError(t, e.call(t, "POST", "/api/v1/tokens", e.admin, d.TokenInput{Name: "x", Role: "opener"}), http.StatusBadRequest, d.Invalid, "role")

	bot, botID := e.scopedToken(t, "bot", d.RoleNone, "")
	b := e.bindToken(t, botID, "opener", "env=dev")
	decode(t, e.call(t, "POST", "/api/v1/requests", bot, d.RequestInput{Targets: ports("devbox", 22), Source: "10.1.2.3"}), http.StatusCreated, nil)

	before = e.snapshot(t)
	wantError(t, e.call(t, "DELETE", "/api/v1/roles/opener", e.admin, nil), http.StatusConflict, d.Conflict, "")
	e.wantUnchanged(t, before)
	decode(t, e.call(t, "DELETE", "/api/v1/bindings/"+b.ID, e.admin, nil), http.StatusOK, nil)
	decode(t, e.call(t, "DELETE", "/api/v1/roles/opener", e.admin, nil), http.StatusNoContent, nil)
	wantError(t, e.call(t, "DELETE", "/api/v1/roles/opener", e.admin, nil), http.StatusNotFound, d.NotFound, "")
	wantError(t, e.call(t, "DELETE", "/api/v1/roles/reader", e.admin, nil), http.StatusBadRequest, d.Invalid, "name")
}
