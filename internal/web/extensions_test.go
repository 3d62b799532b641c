package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/google/go-cmp/cmp"
)

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
