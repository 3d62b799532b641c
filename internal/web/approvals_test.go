package web_test

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/google/go-cmp/cmp"
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
