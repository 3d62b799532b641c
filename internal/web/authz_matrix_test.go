package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// routeKind says how a route decides who may call it, and so how the
// matrix computes the expected outcome.
type routeKind int

const (
	notUser   routeKind = iota // public or agent route: no user credentials; skipped
	anyone                     // any authenticated caller
	global                     // needs the action at scope "*"; 403 otherwise
	list                       // needs the action somewhere (none: anyone); items filtered by scope
	onMachine                  // authorize(): 403 without the action anywhere, 404 when the machine is out of scope, 403 when in scope without the action
	onRequest                  // on another's request on the machine: 404 when canSee fails (no existence oracle), 403 when seen but not allowed
)

// matrixRoute is one row of the authorization matrix.
type matrixRoute struct {
	route   string    // exactly as routes.go registers it
	kind    routeKind //
	act     d.Action  // the action it needs ("" for anyone, or a list anyone may read)
	targets bool      // the call names a machine: probed on devbox (in scope) and prodbox (out of scope)

	ownerOnly   bool     // onRequest: only the requester may (done, extend)
	hiddenField string   // error.field of the 404 that hides an out-of-scope machine
	itemAct     d.Action // list: the action that makes the prepared item visible on its machine
	itemGlobal  bool     // list: the item is visible only with itemAct at "*"

	allowedStatus int // when allowed, this status instead of any 2xx (a domain refusal the matrix cannot avoid)

	// prepare makes, as the admin, what the call acts on and returns its
	// reference (a request, token, binding, role or policy ID).
	prepare func(p *probe) string
	call    func(p *probe, ref string) response
	// listed reports whether the prepared item is in a list's answer.
	listed func(p *probe, ref string, body []byte) bool
	// cleanup undoes an allowed call's effect that would disturb later rows.
	cleanup func(p *probe)
}

// matrixEnv is the matrix's world: devbox (env=dev) and prodbox
// (env=prod), each with an enabled automatic-approval policy for 22/tcp,
// and "owner", a requester everywhere who owns the request fixtures.
type matrixEnv struct {
	*testEnv
	agents map[string]*agent
	owner  string
	n      int
}

// probe is one call of the matrix: a token on a machine ("" for routes that
// name none).
type probe struct {
	t       *testing.T
	m       *matrixEnv
	token   string
	machine string
}

func (p *probe) unique(prefix string) string {
	p.m.n++
	return fmt.Sprintf("%s%d", prefix, p.m.n)
}

// request creates an applying request of the owner's on the probe's machine.
func (p *probe) request() string {
	return string(p.m.request(p.t, p.m.owner, d.RequestInput{Targets: ports(p.machine, 22), Source: "10.1.2.3"}).ID)
}

// pending creates a request of the owner's on the probe's machine that waits
// for one approval: the machine's policy is manual while it is created.
func (p *probe) pending() string {
	p.t.Helper()
	p.m.setApproval(p.t, p.machine, d.ApprovalManual)
	defer p.m.setApproval(p.t, p.machine, d.ApprovalAuto)
	r := p.m.request(p.t, p.m.owner, d.RequestInput{Targets: ports(p.machine, 22), Source: "10.1.2.3"})
	if r.Status != d.StatusPending {
		p.t.Fatalf("fixture request is %s, want pending", r.Status)
	}
	return string(r.ID)
}

func (m *matrixEnv) setApproval(t *testing.T, machine string, mode d.ApprovalMode) {
	t.Helper()
	_, err := m.adminC.PolicySet(t.Context(), machine, d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Approval: &d.ApprovalInput{Mode: mode}})
	if err != nil {
		t.Fatal(err)
	}
}

// enrollLabelled enrolls a fake agent whose machine carries labels.
func (e *testEnv) enrollLabelled(t *testing.T, name string, labels map[string]string) *agent {
	t.Helper()
	in, key := enrollInput(t, e.joinToken(t, d.JoinTokenInput{}), name)
	in.Labels = labels
	var en d.Enrollment
	decode(t, e.call(t, "POST", "/api/v1/agent/enroll", "", in), http.StatusCreated, &en)
	return e.agentWithCert(t, en.MachineID, name, []byte(en.Certificate), key)
}

// scopedToken creates an API token through the API with role at scope, for
// the person name (its owner).
func (e *testEnv) scopedToken(t *testing.T, name string, role d.Role, scope string) (string, d.TokenID) {
	t.Helper()
	var out struct {
		Token string  `json:"token"`
		Info  d.Token `json:"info"`
	}
	decode(t, e.call(t, "POST", "/api/v1/tokens", e.admin, d.TokenInput{Name: name, Role: role, Scope: scope, Owner: strings.ReplaceAll(name, " ", "-")}), http.StatusCreated, &out)
	return out.Token, out.Info.ID
}

// auditHead returns the newest audit event's ID: every change writes one.
func (e *testEnv) auditHead(t *testing.T) d.EventID {
	t.Helper()
	var id d.EventID
	err := e.db.Read(t.Context(), func(tx *store.Tx) error {
		var err error
		id, _, err = tx.AuditHead()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// matrixRoutes is the one table: every route of routes.go.
func matrixRoutes() []matrixRoute {
	get := func(path func(p *probe, ref string) string) func(p *probe, ref string) response {
		return func(p *probe, ref string) response { return p.m.call(p.t, "GET", path(p, ref), p.token, nil) }
	}
	fixed := func(path string) func(p *probe, ref string) string {
		return func(*probe, string) string { return path }
	}
	send := func(method string, path func(p *probe, ref string) string, body func(p *probe) any) func(p *probe, ref string) response {
		return func(p *probe, ref string) response {
			var b any
			if body != nil {
				b = body(p)
			}
			return p.m.call(p.t, method, path(p, ref), p.token, b)
		}
	}
	machinePath := func(suffix string) func(p *probe, ref string) string {
		return func(p *probe, _ string) string { return "/api/v1/machines/" + p.machine + suffix }
	}
	requestPath := func(suffix string) func(p *probe, ref string) string {
		return func(_ *probe, ref string) string { return "/api/v1/requests/" + ref + suffix }
	}
	refPath := func(prefix string) func(p *probe, ref string) string {
		return func(_ *probe, ref string) string { return prefix + ref }
	}
	request := func(p *probe) string { return p.request() }
	pending := func(p *probe) string { return p.pending() }
	listHas := func(key string, match func(p *probe, ref string, item map[string]any) bool) func(p *probe, ref string, body []byte) bool {
		return func(p *probe, ref string, body []byte) bool {
			var out map[string][]map[string]any
			if err := json.Unmarshal(body, &out); err != nil {
				p.t.Fatalf("list body %s: %v", body, err)
			}
			return slices.ContainsFunc(out[key], func(it map[string]any) bool { return match(p, ref, it) })
		}
	}
	idIs := func(_ *probe, ref string, it map[string]any) bool { return it["id"] == ref }
	reenable := func(p *probe) {
		decode(p.t, p.m.call(p.t, "POST", "/api/v1/machines/"+p.machine+"/policy/enable", p.m.admin, nil), http.StatusOK, nil)
	}

	return []matrixRoute{
		{route: "GET /healthz", kind: notUser},
		{route: "GET /readyz", kind: notUser},
		{route: "GET /metrics", kind: notUser},
		{route: "GET /api/v1/openapi.json", kind: notUser},

		{route: "GET /api/v1/whoami", kind: anyone, call: get(fixed("/api/v1/whoami"))},
		{route: "GET /api/v1/machines", kind: list, act: d.ActMachinesRead, targets: true, itemAct: d.ActMachinesRead,
			prepare: func(p *probe) string { return p.machine },
			call:    get(fixed("/api/v1/machines")),
			listed:  listHas("machines", func(_ *probe, ref string, it map[string]any) bool { return it["name"] == ref })},
		{route: "GET /api/v1/machines/{machine}", kind: onMachine, act: d.ActMachinesRead, targets: true, hiddenField: "",
			call: get(machinePath(""))},
		{route: "GET /api/v1/machines/{machine}/policy", kind: onMachine, act: d.ActPoliciesRead, targets: true, hiddenField: "",
			call: get(machinePath("/policy"))},
		{route: "PUT /api/v1/machines/{machine}/policy", kind: onMachine, act: d.ActPoliciesWrite, targets: true, hiddenField: "",
			call: send("PUT", machinePath("/policy"), func(*probe) any { return d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}} })},
		{route: "DELETE /api/v1/machines/{machine}/policy", kind: onMachine, act: d.ActPoliciesWrite, targets: true, hiddenField: "",
			call: send("DELETE", machinePath("/policy"), nil), cleanup: reenable},
		{route: "POST /api/v1/machines/{machine}/policy/enable", kind: onMachine, act: d.ActPoliciesWrite, targets: true, hiddenField: "",
			call: send("POST", machinePath("/policy/enable"), nil)},
		{route: "POST /api/v1/machines/{machine}/policy/disable", kind: onMachine, act: d.ActPoliciesWrite, targets: true, hiddenField: "",
			call: send("POST", machinePath("/policy/disable"), nil), cleanup: reenable},
		{route: "GET /api/v1/policies", kind: list, act: d.ActPoliciesRead, targets: true, itemAct: d.ActPoliciesRead,
			prepare: func(p *probe) string { return string(p.m.agents[p.machine].id) },
			call:    get(fixed("/api/v1/policies")),
			listed:  listHas("policies", func(_ *probe, ref string, it map[string]any) bool { return it["machine_id"] == ref })},
		{route: "POST /api/v1/requests", kind: onMachine, act: d.ActRequestsInitiate, targets: true, hiddenField: "targets[0].machine",
			call: send("POST", fixed("/api/v1/requests"), func(p *probe) any {
				return d.RequestInput{Targets: ports(p.machine, 22), Source: "10.9.9.9"}
			})},
		{route: "GET /api/v1/requests", kind: list, targets: true, itemAct: d.ActRequestsRead,
			prepare: request, call: get(fixed("/api/v1/requests")), listed: listHas("requests", idIs)},
		{route: "GET /api/v1/requests/{id}", kind: onRequest, act: d.ActRequestsRead, targets: true,
			prepare: request, call: get(requestPath(""))},
		{route: "POST /api/v1/requests/{id}/revoke", kind: onRequest, act: d.ActRequestsRevoke, targets: true,
			prepare: request, call: send("POST", requestPath("/revoke"), func(*probe) any { return d.RevokeInput{Reason: "matrix"} })},
		{route: "POST /api/v1/requests/{id}/done", kind: onRequest, ownerOnly: true, targets: true,
			prepare: request, call: send("POST", requestPath("/done"), nil)},
		{route: "POST /api/v1/requests/{id}/extend", kind: onRequest, ownerOnly: true, targets: true,
			prepare: request, call: send("POST", requestPath("/extend"), func(*probe) any { return d.ExtendInput{By: "10m"} })},
		{route: "POST /api/v1/requests/{id}/approve", kind: onRequest, act: d.ActRequestsApprove, targets: true,
			prepare: pending, call: send("POST", requestPath("/approve"), func(*probe) any { return d.DecisionInput{Reason: "ok"} })},
		{route: "POST /api/v1/requests/{id}/deny", kind: onRequest, act: d.ActRequestsApprove, targets: true,
			prepare: pending, call: send("POST", requestPath("/deny"), func(*probe) any { return d.DecisionInput{Reason: "no"} })},
		{route: "GET /api/v1/approvals", kind: list, act: d.ActRequestsApprove, targets: true, itemAct: d.ActRequestsApprove,
			prepare: pending, call: get(fixed("/api/v1/approvals")), listed: listHas("requests", idIs)},
		// Labels decide which scopes cover a machine: only an admin everywhere may change them.
		{route: "PATCH /api/v1/machines/{machine}/labels", kind: global, act: d.ActAdmin, targets: true,
			call: send("PATCH", machinePath("/labels"), func(*probe) any { return d.LabelsInput{Set: map[string]string{"note": "matrix"}} })},
		// Selector policies can govern machines outside any scope: reading them needs policies/read everywhere.
		{route: "GET /api/v1/selector-policies", kind: list, act: d.ActPoliciesRead, itemAct: d.ActPoliciesRead, itemGlobal: true,
			prepare: func(p *probe) string { return p.m.selectorPolicy(p.t, "env=stage") },
			call:    get(fixed("/api/v1/selector-policies")), listed: listHas("policies", idIs)},
		{route: "POST /api/v1/selector-policies", kind: global, act: d.ActPoliciesWrite,
			call: send("POST", fixed("/api/v1/selector-policies"), func(*probe) any {
				return d.PolicyInput{Selector: "env=stage", Rules: []d.RuleInput{{Port: 22}}}
			})},
		{route: "DELETE /api/v1/selector-policies/{id}", kind: global, act: d.ActPoliciesWrite,
			prepare: func(p *probe) string { return p.m.selectorPolicy(p.t, "env="+p.unique("gone")) },
			call:    send("DELETE", refPath("/api/v1/selector-policies/"), nil)},
		{route: "GET /api/v1/bindings", kind: global, act: d.ActAdmin, call: get(fixed("/api/v1/bindings"))},
		{route: "POST /api/v1/bindings", kind: global, act: d.ActAdmin,
			call: send("POST", fixed("/api/v1/bindings"), func(*probe) any {
				return d.BindingInput{Subject: "user:matrix@example.com", Role: d.RoleReader, Scope: "env=dev"}
			})},
		{route: "DELETE /api/v1/bindings/{id}", kind: global, act: d.ActAdmin,
			prepare: func(p *probe) string {
				var b d.Binding
				decode(p.t, p.m.call(p.t, "POST", "/api/v1/bindings", p.m.admin, d.BindingInput{Subject: "user:" + p.unique("u"), Role: d.RoleReader}), http.StatusCreated, &b)
				return b.ID
			},
			call: send("DELETE", refPath("/api/v1/bindings/"), nil)},
		{route: "GET /api/v1/roles", kind: global, act: d.ActAdmin, call: get(fixed("/api/v1/roles"))},
		{route: "POST /api/v1/roles", kind: global, act: d.ActAdmin,
			call: send("POST", fixed("/api/v1/roles"), func(p *probe) any {
				return d.RoleInput{Name: d.Role(p.unique("made-")), Actions: []d.Action{d.ActMachinesRead}}
			})},
		{route: "DELETE /api/v1/machines/{machine}", kind: global, act: d.ActAdmin,
			prepare: func(p *probe) string {
				name := p.unique("doomed-box-")
				p.m.enroll(p.t, name)
				return name
			},
			call: send("DELETE", refPath("/api/v1/machines/"), nil)},
		{route: "DELETE /api/v1/roles/{name}", kind: global, act: d.ActAdmin,
			prepare: func(p *probe) string {
				name := p.unique("doomed-")
				decode(p.t, p.m.call(p.t, "POST", "/api/v1/roles", p.m.admin, d.RoleInput{Name: d.Role(name), Actions: []d.Action{d.ActMachinesRead}}), http.StatusCreated, nil)
				return name
			},
			call: send("DELETE", refPath("/api/v1/roles/"), nil)},
		{route: "POST /api/v1/tokens", kind: global, act: d.ActAdmin,
			call: send("POST", fixed("/api/v1/tokens"), func(*probe) any { return d.TokenInput{Name: "made", Role: d.RoleReader, Scope: "env=dev"} })},
		{route: "GET /api/v1/tokens", kind: global, act: d.ActAdmin, call: get(fixed("/api/v1/tokens"))},
		{route: "DELETE /api/v1/tokens/{id}", kind: global, act: d.ActAdmin,
			prepare: func(p *probe) string { _, id := p.m.token(p.t, "doomed", d.RoleReader); return string(id) },
			call:    send("DELETE", refPath("/api/v1/tokens/"), nil)},
		{route: "POST /api/v1/join-tokens", kind: global, act: d.ActMachinesEnroll,
			call: send("POST", fixed("/api/v1/join-tokens"), func(*probe) any { return d.JoinTokenInput{} })},
		{route: "GET /api/v1/join-tokens", kind: global, act: d.ActMachinesEnroll, call: get(fixed("/api/v1/join-tokens"))},
		{route: "DELETE /api/v1/join-tokens/{id}", kind: global, act: d.ActMachinesEnroll,
			prepare: func(p *probe) string {
				_, _, j, err := p.m.adminC.JoinTokenCreate(p.t.Context(), d.JoinTokenInput{})
				if err != nil {
					p.t.Fatal(err)
				}
				return string(j.ID)
			},
			call: send("DELETE", refPath("/api/v1/join-tokens/"), nil)},
		{route: "GET /api/v1/events", kind: global, act: d.ActAuditRead, call: get(fixed("/api/v1/events"))},
		{route: "GET /api/v1/audit/verify", kind: global, act: d.ActAuditRead, call: get(fixed("/api/v1/audit/verify"))},
		{route: "GET /api/v1/audit/head", kind: global, act: d.ActAuditRead, call: get(fixed("/api/v1/audit/head"))},

		{route: "GET /api/v1/webhooks", kind: global, act: d.ActAdmin, call: get(fixed("/api/v1/webhooks"))},
		{route: "POST /api/v1/webhooks", kind: global, act: d.ActAdmin,
			call: send("POST", fixed("/api/v1/webhooks"), func(*probe) any { return d.WebhookInput{URL: "https://hooks.example.com/matrix"} })},
		{route: "DELETE /api/v1/webhooks/{id}", kind: global, act: d.ActAdmin,
			prepare: func(p *probe) string { return string(p.m.webhook(p.t)) },
			call:    send("DELETE", refPath("/api/v1/webhooks/"), nil)},
		{route: "POST /api/v1/webhooks/{id}/test", kind: global, act: d.ActAdmin,
			prepare: func(p *probe) string { return string(p.m.webhook(p.t)) + "/test" },
			call:    send("POST", refPath("/api/v1/webhooks/"), nil)},
		{route: "GET /api/v1/webhook-deliveries", kind: global, act: d.ActAdmin, call: get(fixed("/api/v1/webhook-deliveries"))},
		{route: "GET /api/v1/webhook-deliveries/{id}", kind: global, act: d.ActAdmin,
			prepare: func(p *probe) string { return p.m.delivery(p.t) },
			call:    get(refPath("/api/v1/webhook-deliveries/"))},
		// Only dead deliveries are retried, and the dispatcher does not run here: allowed means 409.
		{route: "POST /api/v1/webhook-deliveries/{id}/retry", kind: global, act: d.ActAdmin, allowedStatus: http.StatusConflict,
			prepare: func(p *probe) string { return p.m.delivery(p.t) + "/retry" },
			call:    send("POST", refPath("/api/v1/webhook-deliveries/"), nil)},

		{route: "GET /api/v1/auth/config", kind: notUser},
		{route: "POST /api/v1/auth/oidc/token", kind: notUser},
		{route: "GET /auth/login", kind: notUser},
		{route: "GET /auth/callback", kind: notUser},
		{route: "POST /auth/logout", kind: notUser},
		{route: "POST /api/v1/agent/enroll", kind: notUser},
		{route: "GET /api/v1/agent/machines/{machine}/state", kind: notUser},
		{route: "POST /api/v1/agent/machines/{machine}/ack", kind: notUser},
		{route: "PUT /api/v1/agent/machines/{machine}/inventory", kind: notUser},
		{route: "POST /api/v1/agent/machines/{machine}/usage", kind: notUser},
		{route: "POST /api/v1/agent/machines/{machine}/renew", kind: notUser},
		{route: "POST /api/v1/agent/machines/{machine}/offline", kind: notUser},
		{route: "/api/", kind: notUser}, // the JSON 404 for unknown API paths
	}
}

// webhook registers a webhook as the admin.
func (m *matrixEnv) webhook(t *testing.T) d.WebhookID {
	t.Helper()
	var w d.Webhook
	decode(t, m.call(t, "POST", "/api/v1/webhooks", m.admin, d.WebhookInput{URL: "https://hooks.example.com/fixture"}), http.StatusCreated, &w)
	return w.ID
}

// delivery queues a test delivery to a new webhook and returns its ID.
func (m *matrixEnv) delivery(t *testing.T) string {
	t.Helper()
	var v d.Delivery
	decode(t, m.call(t, "POST", "/api/v1/webhooks/"+string(m.webhook(t))+"/test", m.admin, nil), http.StatusAccepted, &v)
	return string(v.ID)
}

// selectorPolicy creates (or updates) a selector policy as the admin.
func (e *testEnv) selectorPolicy(t *testing.T, selector string, rules ...d.RuleInput) string {
	t.Helper()
	if rules == nil {
		rules = []d.RuleInput{{Port: 22}}
	}
	var p d.Policy
	decode(t, e.call(t, "POST", "/api/v1/selector-policies", e.admin, d.PolicyInput{Selector: selector, Rules: rules}), http.StatusOK, &p)
	return p.ID
}

// caller is a matrix token: a built-in role at a scope.
type caller struct {
	role  d.Role
	scope string // "*" or "env=dev"
	token string
}

// has reports whether the caller holds act on machine (every machine but
// devbox is outside env=dev).
func (c caller) has(act d.Action, machine string) bool {
	return slices.Contains(c.role.Actions(), act) && (c.scope == "*" || machine == "devbox")
}

func (c caller) hasAnywhere(act d.Action) bool { return slices.Contains(c.role.Actions(), act) }

func (c caller) hasEverywhere(act d.Action) bool { return c.hasAnywhere(act) && c.scope == "*" }

// outcome is what the matrix expects of a call.
type outcome int

const (
	allowed outcome = iota
	forbidden
	hidden // 404: the caller may not know the thing exists
)

func (o outcome) String() string { return [...]string{"allowed", "403", "404"}[o] }

// expect computes the outcome from the role's actions and the scope alone.
func expect(r matrixRoute, c caller, machine string) outcome {
	switch r.kind {
	case anyone:
		return allowed
	case global:
		if c.hasEverywhere(r.act) {
			return allowed
		}
		return forbidden
	case list:
		if r.act == "" || c.hasAnywhere(r.act) {
			return allowed
		}
		return forbidden
	case onMachine:
		switch {
		case !c.hasAnywhere(r.act):
			return forbidden
		case !c.has(d.ActMachinesRead, machine) && !c.has(d.ActPoliciesRead, machine) && !c.has(d.ActRequestsInitiate, machine):
			return hidden
		case !c.has(r.act, machine):
			return forbidden
		}
		return allowed
	case onRequest:
		switch {
		case r.act == d.ActRequestsApprove && !c.hasAnywhere(r.act):
			return forbidden
		case !c.has(d.ActRequestsRead, machine): // not its own, and not readable
			return hidden
		case r.ownerOnly || !c.has(r.act, machine):
			return forbidden
		}
		return allowed
	}
	panic("unreachable")
}

// listVisible says whether a list shows the item prepared on machine.
func listVisible(r matrixRoute, c caller, machine string) bool {
	if r.itemGlobal {
		return c.hasEverywhere(r.itemAct)
	}
	return c.has(r.itemAct, machine)
}

// registeredRoutes reads the patterns routes.go registers.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, m := range regexp.MustCompile(`m\.Handle(?:Func)?\("([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		routes = append(routes, m[1])
	}
	if len(routes) < 20 {
		t.Fatalf("found only %d routes in routes.go; has the registration style changed?", len(routes))
	}
	return routes
}

// TestAuthorizationMatrix calls every user route as every built-in role,
// scoped to env=dev and everywhere, on a machine in the scope (devbox) and
// out of it (prodbox), and compares each answer with the outcome computed
// from the role's actions and the scope.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	table := matrixRoutes()

	t.Run("table covers routes.go", func(t *testing.T) {
		registered := registeredRoutes(t)
		var rows []string
		for _, r := range table {
			if slices.Contains(rows, r.route) {
				t.Errorf("route %q is in the table twice", r.route)
			}
			rows = append(rows, r.route)
			if !slices.Contains(registered, r.route) {
				t.Errorf("table row %q: routes.go registers no such route", r.route)
			}
		}
		for _, r := range registered {
			if !slices.Contains(rows, r) {
				t.Errorf("route %q is missing from the authorization matrix: add a row saying what it needs", r)
			}
		}
	})

	e := newEnv(t)
	m := &matrixEnv{testEnv: e, agents: map[string]*agent{}}
	m.agents["devbox"] = e.enrollLabelled(t, "devbox", map[string]string{"env": "dev"})
	m.agents["prodbox"] = e.enrollLabelled(t, "prodbox", map[string]string{"env": "prod"})
	e.policy(t, "devbox", d.RuleInput{Port: 22})
	e.policy(t, "prodbox", d.RuleInput{Port: 22})
	m.owner, _ = e.scopedToken(t, "owner", d.RoleRequester, "*")

	var callers []caller
	for _, role := range d.Roles() {
		for _, scope := range []string{"env=dev", "*"} {
			name := string(role) + " everywhere"
			if scope != "*" {
				name = string(role) + " dev"
			}
			tok, _ := e.scopedToken(t, name, role, scope)
			callers = append(callers, caller{role: role, scope: scope, token: tok})
		}
	}

	for _, r := range table {
		t.Run(r.route, func(t *testing.T) {
			if r.kind == notUser {
				t.Skip("not a user route: public, or agents with a client certificate (see agents_test.go, sessions_test.go)")
			}
			machines := []string{""}
			if r.targets {
				machines = []string{"devbox", "prodbox"}
			}
			for _, c := range callers {
				for _, machine := range machines {
					name := fmt.Sprintf("%s at %s", c.role, c.scope)
					switch machine {
					case "devbox":
						name += " on devbox (in scope)"
					case "prodbox":
						name += " on prodbox (out of scope)"
					}
					t.Run(name, func(t *testing.T) {
						p := &probe{t: t, m: m, token: c.token, machine: machine}
						ref := ""
						if r.prepare != nil {
							ref = r.prepare(p)
						}
						want := expect(r, c, machine)
						before := e.auditHead(t)
						resp := r.call(p, ref)
						switch want {
						case allowed:
							if r.allowedStatus != 0 {
								if resp.status != r.allowedStatus {
									t.Fatalf("status = %d, want %d (allowed, refused by the domain); body: %s", resp.status, r.allowedStatus, resp.body)
								}
							} else if resp.status < 200 || resp.status > 299 {
								t.Fatalf("status = %d, want 2xx (allowed); body: %s", resp.status, resp.body)
							}
							if r.listed != nil {
								if got, want := r.listed(p, ref, resp.body), listVisible(r, c, machine); got != want {
									t.Errorf("listed item %s: visible = %v, want %v", ref, got, want)
								}
							}
							if r.cleanup != nil {
								r.cleanup(p)
							}
						case forbidden:
							wantError(t, resp, http.StatusForbidden, d.Forbidden, "")
						case hidden:
							wantError(t, resp, http.StatusNotFound, d.NotFound, r.hiddenField)
						}
						if want != allowed {
							// Only the refusal itself is recorded (a 403;
							// a 404 tells nothing and is not).
							for _, ev := range e.events(t, before) {
								if want == hidden || !refusal(ev) {
									t.Errorf("a refused call changed something: event %d %s on %s", ev.ID, ev.Action, ev.Target)
								}
							}
						}
					})
				}
			}
		})
	}
}
