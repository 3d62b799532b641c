package web_test

import (
	"net/http"
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
