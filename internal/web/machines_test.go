package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

// TestEnrollLabelsFromJoinToken: the join token's labels decide scopes and
// selector policies, so an enrolling agent may add labels but not change
// one the token sets, and a refused enrollment does not use the token up.
func TestEnrollLabelsFromJoinToken(t *testing.T) {
	e := newEnv(t)
	jt := e.joinToken(t, d.JoinTokenInput{Labels: map[string]string{"env": "dev"}})

	in, _ := enrollInput(t, jt, "box")
	in.Labels = map[string]string{"env": "prod"}
	before := e.snapshot(t)
	wantError(t, e.call(t, "POST", "/api/v1/agent/enroll", "", in), http.StatusBadRequest, d.Invalid, "labels")
	e.wantUnchanged(t, before)

	in.Labels = map[string]string{"env": "dev", "team": "db"}
	var out d.Enrollment
	decode(t, e.call(t, "POST", "/api/v1/agent/enroll", "", in), http.StatusCreated, &out)
	m := e.machine(t, "box")
	if diff := cmp.Diff(map[string]string{"env": "dev", "team": "db"}, m.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}

// TestMachineDelete: deleting a machine revokes its open grants, keeps its
// requests for the record, and its agent certificate stops working.
func TestMachineDelete(t *testing.T) {
	e := newEnv(t)
	ag := e.enroll(t, "gone")
	e.policy(t, "gone", d.RuleInput{Port: 22})
	r := e.request(t, e.admin, d.RequestInput{Targets: ports("gone", 22), Source: "10.1.2.3"})

	reader, _ := e.token(t, "rita", d.RoleReader)
	wantError(t, e.call(t, "DELETE", "/api/v1/machines/gone", reader, nil), http.StatusForbidden, d.Forbidden, "")
	if res := e.call(t, "DELETE", "/api/v1/machines/gone", e.admin, nil); res.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	if got := e.getRequest(t, e.admin, r.ID); got.Status != d.StatusRevoked || got.Targets[0].Reason != "machine deleted" {
		t.Errorf("request after delete: %s (%s)", got.Status, got.Targets[0].Reason)
	}
	wantError(t, ag.call(t, e, "GET", "/api/v1/agent/machines/"+string(ag.id)+"/state?index=0", nil), http.StatusUnauthorized, d.Unauthenticated, "")
	wantError(t, e.call(t, "GET", "/api/v1/machines/gone", e.admin, nil), http.StatusNotFound, d.NotFound, "")
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
