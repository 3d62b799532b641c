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
