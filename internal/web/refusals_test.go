package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// TestRefusalsAudited: refused attempts by an authenticated caller — a 403,
// a self-approval, an invalid request — are audited with actor, route,
// path and reason, each in its own transaction; a flood is bounded and
// summed up (issue 7, item 16).
func TestRefusalsAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	db := e.enroll(t, "db")
	other := e.enroll(t, "other")
	e.setPolicy(t, "db", d.PolicyInput{Rules: []d.RuleInput{{Port: 5432}}, Approval: &d.ApprovalInput{Mode: d.ApprovalManual}})
	alice, aliceID := e.token(t, "alice", d.RoleRequester)
	r := e.request(t, alice, d.RequestInput{Targets: ports("db", 5432), Source: "10.1.2.3"})
	aliceApprover, _ := e.scopedToken(t, "alice", d.RoleApprover, "*") // alice's second token: same owner
	actor := "token:" + string(aliceID)

	type refused struct {
		Actor, Action, Target, Result string
		Route, Field                  string
		Reason                        string
	}
	last := e.lastEventID(t)
	next := func(t *testing.T) []refused {
		t.Helper()
		var out []refused
		for _, ev := range e.events(t, last) {
			var det struct{ Route, Field string }
			_ = json.Unmarshal([]byte(ev.Details), &det)
			out = append(out, refused{ev.Actor, ev.Action, ev.Target, ev.Result, det.Route, det.Field, ev.Reason})
			last = ev.ID
		}
		return out
	}

	wantError(t, e.call(t, "POST", "/api/v1/tokens", alice, d.TokenInput{Name: "x", Role: d.RoleAdmin}), http.StatusForbidden, d.Forbidden, "")
	got := next(t)
	if len(got) != 1 || got[0].Actor != actor || got[0].Action != d.EvAccessDenied || got[0].Target != "/api/v1/tokens" ||
		got[0].Result != d.ResultFailure || got[0].Route != "POST /api/v1/tokens" || !strings.Contains(got[0].Reason, "may not admin") {
		t.Errorf("403: events %+v, want one access.denied by %s on /api/v1/tokens", got, actor)
	}

	wantError(t, e.decideAs(t, aliceApprover, "approve", r.ID, nil), http.StatusForbidden, d.Forbidden, "")
	if got := next(t); len(got) != 1 || got[0].Action != d.EvAccessDenied || !strings.Contains(got[0].Reason, "self-approval") ||
		got[0].Target != "/api/v1/requests/"+string(r.ID)+"/approve" {
		t.Errorf("self-approval: events %+v, want one access.denied naming self-approval", got)
	}

	wantError(t, e.call(t, "POST", "/api/v1/requests", alice, d.RequestInput{Targets: ports("db", 5432), Source: "not an address"}), http.StatusBadRequest, d.Invalid, "source")
	if got := next(t); len(got) != 1 || got[0].Action != d.EvRequestRefused || got[0].Field != "source" {
		t.Errorf("invalid request: events %+v, want one request.refused on field source", got)
	}

	// An agent reaching for another machine's state.
	wantError(t, db.call(t, e, "GET", "/api/v1/agent/machines/"+string(other.id)+"/state", nil), http.StatusForbidden, d.Forbidden, "")
	if got := next(t); len(got) != 1 || got[0].Action != d.EvAccessDenied || got[0].Actor != "agent:"+string(db.id) {
		t.Errorf("agent 403: events %+v, want one access.denied by the agent", got)
	}

	// Not refusals by a known caller: bad credentials, a hidden 404.
	wantError(t, e.call(t, "GET", "/api/v1/requests", "tok_nobody0000000.secretsecretsecretsecret", nil), http.StatusUnauthorized, d.Unauthenticated, "")
	wantError(t, e.call(t, "GET", "/api/v1/requests/req_aaaaaaaaaaaaaaaaaaaa", alice, nil), http.StatusNotFound, d.NotFound, "")
	if got := next(t); len(got) != 0 {
		t.Errorf("401 and 404 wrote %+v, want nothing", got)
	}

	t.Run("a flood is bounded and summed up", func(t *testing.T) {
		mallory, _ := e.token(t, "mallory", d.RoleRequester)
		next(t)
		for range 200 {
			e.call(t, "POST", "/api/v1/tokens", mallory, d.TokenInput{Name: "x", Role: d.RoleAdmin})
		}
		if got := next(t); len(got) != 10 {
			t.Errorf("200 refusals at one instant wrote %d events, want the burst of 10", len(got))
		}
		e.clock.Advance(time.Minute) // the flood is over: the bucket is full again
		if n, err := e.svc.FlushRefusals(t.Context()); err != nil || n != 1 {
			t.Fatalf("FlushRefusals = %d, %v; want one summary", n, err)
		}
		got := next(t)
		if len(got) != 1 || got[0].Action != d.EvAccessSuppressed || got[0].Reason != "190 more refused attempts suppressed" {
			t.Errorf("summary: %+v, want one access.suppressed for 190", got)
		}
	})
}
