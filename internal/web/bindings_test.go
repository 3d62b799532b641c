package web_test

import (
	"net/http"
	"testing"

	d "github.com/drawbridge/drawbridge"
)

// bindToken binds a role at scope to an API token, through the API.
func (e *testEnv) bindToken(t *testing.T, id d.TokenID, role d.Role, scope string) d.Binding {
	t.Helper()
	var b d.Binding
	decode(t, e.call(t, "POST", "/api/v1/bindings", e.admin, d.BindingInput{Subject: "token:" + string(id), Role: role, Scope: scope}), http.StatusCreated, &b)
	return b
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
	if len(who.Actor.RoleGrants) != 1 || who.Actor.RoleGrants[0].Role != d.RoleRequester || who.Actor.RoleGrants[0].Scope != b.Scope {
		t.Errorf("grants = %+v, want requester at %s only", who.Actor.RoleGrants, b.Scope)
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
