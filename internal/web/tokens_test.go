package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

// TestTokenCreateRefusals: a TTL of zero or below a minute, an empty role or
// a malformed owner is a 400 naming the field, and creates nothing (issue
// 7, item 8: "0s" made a token that never expires, "1ns" and an empty role
// were accepted).
func TestTokenCreateRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct {
		name  string
		in    d.TokenInput
		field string
	}{
		{"ttl 0s", d.TokenInput{Name: "x", Role: d.RoleReader, TTL: "0s"}, "ttl"},
		{"ttl PT0S", d.TokenInput{Name: "x", Role: d.RoleReader, TTL: "PT0S"}, "ttl"},
		{"ttl 1ns", d.TokenInput{Name: "x", Role: d.RoleReader, TTL: "1ns"}, "ttl"},
		{"ttl 59s", d.TokenInput{Name: "x", Role: d.RoleReader, TTL: "59s"}, "ttl"},
		{"ttl over 366 days", d.TokenInput{Name: "x", Role: d.RoleReader, TTL: "8785h"}, "ttl"},
		{"empty role", d.TokenInput{Name: "x"}, "role"},
		{"unknown role", d.TokenInput{Name: "x", Role: "root"}, "role"},
		{"owner with a space", d.TokenInput{Name: "x", Role: d.RoleReader, Owner: "alice smith"}, "owner"},
		{"owner of another kind", d.TokenInput{Name: "x", Role: d.RoleReader, Owner: "group:ops"}, "owner"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			wantError(t, e.call(t, "POST", "/api/v1/tokens", e.admin, tt.in), http.StatusBadRequest, d.Invalid, tt.field)
			e.wantUnchanged(t, before)
		})
	}
	t.Run("join token ttl 0s", func(t *testing.T) {
		before := e.snapshot(t)
		wantError(t, e.call(t, "POST", "/api/v1/join-tokens", e.admin, d.JoinTokenInput{TTL: "0s"}), http.StatusBadRequest, d.Invalid, "ttl")
		e.wantUnchanged(t, before)
	})

	t.Run("accepted", func(t *testing.T) {
		now := e.clock.Now()
		for _, tt := range []struct {
			in        d.TokenInput
			role      d.Role
			owner     string
			expiresAt time.Time
		}{
			{d.TokenInput{Name: "a", Role: d.RoleReader}, d.RoleReader, "", time.Time{}},
			{d.TokenInput{Name: "b", Role: d.RoleReader, TTL: "1m", Owner: "bob@example.com"}, d.RoleReader, "user:bob@example.com", now.Add(time.Minute)},
			{d.TokenInput{Name: "c", Role: d.RoleNone, TTL: "PT1H", Owner: "user:carol"}, "", "user:carol", now.Add(time.Hour)},
		} {
			var out struct{ Info d.Token }
			decode(t, e.call(t, "POST", "/api/v1/tokens", e.admin, tt.in), http.StatusCreated, &out)
			got := out.Info
			if got.Role != tt.role || !got.ExpiresAt.Equal(tt.expiresAt) {
				t.Errorf("%s: role %q, expires %v; want %q, %v", tt.in.Name, got.Role, got.ExpiresAt, tt.role, tt.expiresAt)
			}
			if tt.owner == "" {
				tt.owner = "token:" + strings.SplitN(e.admin, ".", 2)[0] // the creator
			}
			if got.Owner != tt.owner {
				t.Errorf("%s: owner %q, want %q", tt.in.Name, got.Owner, tt.owner)
			}
		}
	})
}

// TestSelfApprovalPerPerson: the rules that count people count a token's
// owner: nobody approves a request made with a token they own, and two
// tokens of one owner are one approver towards a quorum (issue 7, item 8).
func TestSelfApprovalPerPerson(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "db")
	e.setPolicy(t, "db", d.PolicyInput{
		Rules:    []d.RuleInput{{Port: 5432}},
		Approval: &d.ApprovalInput{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 2}}},
	})
	mk := func(name, owner string, role d.Role) string {
		var out struct{ Token string }
		decode(t, e.call(t, "POST", "/api/v1/tokens", e.admin, d.TokenInput{Name: name, Role: role, Owner: owner}), http.StatusCreated, &out)
		return out.Token
	}
	alice := mk("alice", "alice@example.com", d.RoleRequester)
	aliceApprover := mk("alice-approver", "alice@example.com", d.RoleApprover)
	ann1 := mk("ann-laptop", "ann@example.com", d.RoleApprover)
	ann2 := mk("ann-ci", "ann@example.com", d.RoleApprover)
	bob := mk("bob", "bob@example.com", d.RoleApprover)
	unowned := mk("unowned", "", d.RoleRequester) // made by the admin, for the admin

	r := e.request(t, alice, d.RequestInput{Targets: ports("db", 5432), Source: "10.1.2.3"})
	if r.RequesterPerson != "user:alice@example.com" {
		t.Errorf("requester_person = %q, want alice's", r.RequesterPerson)
	}
	msg := wantError(t, e.decideAs(t, aliceApprover, "approve", r.ID, nil), http.StatusForbidden, d.Forbidden, "").Message
	if !strings.Contains(msg, "self-approval") {
		t.Errorf("alice's second token: %q, want a self-approval refusal", msg)
	}
	if got := e.approvalIDs(t, aliceApprover); len(got) != 0 {
		t.Errorf("alice's approver token is offered her own request: %v", got)
	}
	decode(t, e.decideAs(t, ann1, "approve", r.ID, nil), http.StatusOK, nil)
	wantError(t, e.decideAs(t, ann2, "approve", r.ID, nil), http.StatusConflict, d.Conflict, "")
	if got := e.approvalIDs(t, ann2); len(got) != 0 {
		t.Errorf("ann's second token is offered a request ann approved: %v", got)
	}
	if got := e.getRequest(t, alice, r.ID); got.Status != d.StatusPending {
		t.Fatalf("after one person's approval through two tokens the request is %s, want pending", got.Status)
	}
	var done d.Request
	decode(t, e.decideAs(t, bob, "approve", r.ID, nil), http.StatusOK, &done)
	if done.Status != d.StatusApplying || len(done.Approvals) != 2 || done.Approvals[0].ApproverPerson != "user:ann@example.com" {
		t.Errorf("after ann and bob: status %s, approvals %+v; want applying with two", done.Status, done.Approvals)
	}

	// A token made without --owner belongs to its creator: the admin who
	// made it cannot approve what it asks for.
	r2 := e.request(t, unowned, d.RequestInput{Targets: ports("db", 5432), Source: "10.1.2.4"})
	msg = wantError(t, e.decideAs(t, e.admin, "approve", r2.ID, nil), http.StatusForbidden, d.Forbidden, "").Message
	if !strings.Contains(msg, "self-approval") {
		t.Errorf("admin approving its own token's request: %q, want a self-approval refusal", msg)
	}
}

// TestMaxActivePerPerson: max_active_per_user counts a person's grants
// through all of their tokens.
func TestMaxActivePerPerson(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web")
	e.setPolicy(t, "web", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Limits: &d.Limits{MaxActivePerUser: 1}})
	laptop, _ := e.token(t, "alice", d.RoleRequester)
	ci, _ := e.scopedToken(t, "alice", d.RoleRequester, "*") // alice's second token
	e.request(t, laptop, d.RequestInput{Targets: ports("web", 22), Source: "10.1.2.3"})
	wantError(t, e.call(t, "POST", "/api/v1/requests", ci, d.RequestInput{Targets: ports("web", 22), Source: "10.1.2.4"}), http.StatusConflict, d.Conflict, "targets[0].machine")
}

// TestRevokeGrants: revoking a token (or deleting a binding) lists the open
// requests it leaves, and with revoke_grants ends them in the same step
// (issue 7, item 8: offboarding).
func TestRevokeGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.enroll(t, "web")
	e.policy(t, "web", d.RuleInput{Port: 22})
	alice, aliceID := e.token(t, "alice", d.RoleRequester)
	carl, carlID := e.token(t, "carl", d.RoleRequester)
	keep := e.activeRequest(t, alice, a, d.RequestInput{Targets: ports("web", 22), Source: "10.1.2.3"})
	end := e.activeRequest(t, carl, a, d.RequestInput{Targets: ports("web", 22), Source: "10.1.2.4"})

	var out d.Revoked
	decode(t, e.call(t, "DELETE", "/api/v1/tokens/"+string(aliceID), e.admin, nil), http.StatusOK, &out)
	if diff := cmp.Diff(d.Revoked{RevokedRequests: []d.RequestID{}, OpenRequests: []d.RequestID{keep.ID}}, out); diff != "" {
		t.Errorf("revoke without revoke_grants (-want +got):\n%s", diff)
	}
	if got := e.getRequest(t, e.admin, keep.ID); got.Status != d.StatusActive {
		t.Errorf("without revoke_grants the request is %s, want still active", got.Status)
	}
	wantError(t, e.call(t, "DELETE", "/api/v1/tokens/"+string(aliceID), e.admin, nil), http.StatusConflict, d.Conflict, "")
	decode(t, e.call(t, "DELETE", "/api/v1/tokens/"+string(aliceID)+"?revoke_grants=true", e.admin, nil), http.StatusOK, &out) // the offer taken up later
	if diff := cmp.Diff(d.Revoked{RevokedRequests: []d.RequestID{keep.ID}, OpenRequests: []d.RequestID{}}, out); diff != "" {
		t.Errorf("revoking a revoked token again with revoke_grants (-want +got):\n%s", diff)
	}

	wantError(t, e.call(t, "DELETE", "/api/v1/tokens/"+string(carlID)+"?revoke_grants=maybe", e.admin, nil), http.StatusBadRequest, d.Invalid, "revoke_grants")
	decode(t, e.call(t, "DELETE", "/api/v1/tokens/"+string(carlID)+"?revoke_grants=true", e.admin, nil), http.StatusOK, &out)
	if diff := cmp.Diff(d.Revoked{RevokedRequests: []d.RequestID{end.ID}, OpenRequests: []d.RequestID{}}, out); diff != "" {
		t.Errorf("revoke with revoke_grants (-want +got):\n%s", diff)
	}
	if got := e.getRequest(t, e.admin, end.ID); got.Status != d.StatusRevoked {
		t.Errorf("with revoke_grants the request is %s, want revoked", got.Status)
	}
	for _, g := range a.state(t).Grants {
		for _, id := range g.Targets {
			if id == end.Targets[0].ID {
				t.Errorf("the agent still has carl's grant %+v", g)
			}
		}
	}

	t.Run("binding", func(t *testing.T) {
		robot, robotID := e.scopedToken(t, "robot", d.RoleNone, "")
		b := e.bindToken(t, robotID, d.RoleRequester, "*")
		r := e.activeRequest(t, robot, a, d.RequestInput{Targets: ports("web", 22), Source: "10.1.2.5"})
		decode(t, e.call(t, "DELETE", "/api/v1/bindings/"+b.ID+"?revoke_grants=true", e.admin, nil), http.StatusOK, &out)
		if diff := cmp.Diff([]d.RequestID{r.ID}, out.RevokedRequests); diff != "" {
			t.Errorf("binding delete with revoke_grants (-want +got):\n%s", diff)
		}
		var gb d.Binding
		decode(t, e.call(t, "POST", "/api/v1/bindings", e.admin, d.BindingInput{Subject: "group:ops", Role: d.RoleRequester}), http.StatusCreated, &gb)
		before := e.snapshot(t)
		wantError(t, e.call(t, "DELETE", "/api/v1/bindings/"+gb.ID+"?revoke_grants=true", e.admin, nil), http.StatusBadRequest, d.Invalid, "revoke_grants")
		e.wantUnchanged(t, before)
	})
}
