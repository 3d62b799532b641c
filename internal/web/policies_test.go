package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

// TestPolicyExplicitDurations: only an absent duration means the default;
// an explicit zero or sub-second one is a 400 naming the field, not a
// silent default (max duration 3h) or "off" (idle timeout).
func TestPolicyExplicitDurations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	manual := func(ttl string) *d.ApprovalInput {
		return &d.ApprovalInput{Mode: d.ApprovalManual, PendingTTL: ttl}
	}
	tests := []struct {
		name  string
		in    d.PolicyInput
		field string
	}{
		{"max duration 0s", d.PolicyInput{Rules: []d.RuleInput{{Port: 22, MaxDuration: "0s"}}}, "rules[0].max_duration"},
		{"max duration PT0S", d.PolicyInput{Rules: []d.RuleInput{{Port: 22, MaxDuration: "PT0S"}}}, "rules[0].max_duration"},
		{"max duration sub-second", d.PolicyInput{Rules: []d.RuleInput{{Port: 22, MaxDuration: "500ms"}}}, "rules[0].max_duration"},
		{"idle timeout 0s", d.PolicyInput{Rules: []d.RuleInput{{Port: 22, IdleTimeout: "0s"}}}, "rules[0].idle_timeout"},
		{"idle timeout PT0.0001S", d.PolicyInput{Rules: []d.RuleInput{{Port: 22, IdleTimeout: "PT0.0001S"}}}, "rules[0].idle_timeout"},
		{"idle timeout sub-second", d.PolicyInput{Rules: []d.RuleInput{{Port: 22, IdleTimeout: "0.5s"}}}, "rules[0].idle_timeout"},
		{"pending TTL 0s", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Approval: manual("0s")}, "approval.pending_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			wantError(t, e.call(t, "PUT", "/api/v1/machines/web1/policy", e.admin, tt.in), http.StatusBadRequest, d.Invalid, tt.field)
			sel := tt.in
			sel.Selector = "env=prod"
			wantError(t, e.call(t, "POST", "/api/v1/selector-policies", e.admin, sel), http.StatusBadRequest, d.Invalid, tt.field)
			e.wantUnchanged(t, before)
		})
	}
	t.Run("an empty source list is not any source", func(t *testing.T) {
		before := e.snapshot(t)
		wantError(t, e.call(t, "PUT", "/api/v1/machines/web1/policy", e.admin, `{"rules":[{"port":22,"allowed_sources":[]}]}`), http.StatusBadRequest, d.Invalid, "rules[0].allowed_sources")
		wantError(t, e.call(t, "POST", "/api/v1/selector-policies", e.admin, `{"selector":"env=prod","rules":[{"port":22,"allowed_sources":[]}]}`), http.StatusBadRequest, d.Invalid, "rules[0].allowed_sources")
		e.wantUnchanged(t, before)
	})
	t.Run("absent fields take the defaults", func(t *testing.T) {
		p := e.setPolicy(t, "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Approval: manual("")})
		if r := p.Rules[0]; r.MaxDuration != d.Duration(d.DefaultMaxDuration) || r.IdleTimeout != 0 {
			t.Errorf("rule = %+v, want max %s and no idle timeout", r, d.Duration(d.DefaultMaxDuration))
		}
		if p.Approval.PendingTTL != d.Duration(d.DefaultPendingTTL) {
			t.Errorf("pending TTL = %s, want %s", p.Approval.PendingTTL, d.Duration(d.DefaultPendingTTL))
		}
	})
	t.Run("requests", func(t *testing.T) {
		e.setPolicy(t, "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Approval: &d.ApprovalInput{Mode: d.ApprovalAuto}})
		alice, _ := e.token(t, "alice", d.RoleRequester)
		for _, dur := range []string{"0s", "PT0S", "PT0.0001S", "500ms"} {
			before := e.snapshot(t)
			in := d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3", Duration: dur}
			wantError(t, e.call(t, "POST", "/api/v1/requests", alice, in), http.StatusBadRequest, d.Invalid, "duration")
			e.wantUnchanged(t, before)
		}
	})
}

// TestPolicyWeakenings: the API returns the ways a change weakens the
// policy that governed a machine, and the audit event records them.
func TestPolicyWeakenings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	e.enrollLabelled(t, "db1", map[string]string{"env": "prod", "team": "db"})
	manual := &d.ApprovalInput{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 2}}}
	fields := func(ws []d.Weakening) []string {
		var out []string
		for _, w := range ws {
			f := w.Field
			if w.Machine != "" {
				f = w.Machine + ":" + f
			}
			out = append(out, f)
		}
		return out
	}
	put := func(t *testing.T, in d.PolicyInput) d.PolicyChange {
		t.Helper()
		var c d.PolicyChange
		decode(t, e.call(t, "PUT", "/api/v1/machines/web1/policy", e.admin, in), http.StatusOK, &c)
		return c
	}

	if c := put(t, d.PolicyInput{Rules: []d.RuleInput{{Port: 22, AllowedSources: []string{"10.1.0.0/16"}}}, Approval: manual}); len(c.Weakenings) != 0 {
		t.Errorf("a new policy weakens %v", fields(c.Weakenings))
	}
	last := e.lastEventID(t)
	c := put(t, d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Approval: &d.ApprovalInput{Mode: d.ApprovalAuto}})
	if got, want := fields(c.Weakenings), []string{"rules[0].allowed_sources", "approval.mode"}; !slices.Equal(got, want) {
		t.Errorf("weakenings = %v, want %v", got, want)
	}
	evs := e.events(t, last)
	if len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Details, `"weakenings"`) || !strings.Contains(evs[len(evs)-1].Details, "approval.mode") {
		t.Errorf("audit events after the change: %+v", evs)
	}
	var off d.PolicyChange
	decode(t, e.call(t, "POST", "/api/v1/machines/web1/policy/disable", e.admin, nil), http.StatusOK, &off)
	if got := fields(off.Weakenings); !slices.Equal(got, []string{"enabled"}) {
		t.Errorf("disable: weakenings = %v, want [enabled]", got)
	}

	t.Run("a selector policy taking over from a stricter one", func(t *testing.T) {
		var c d.PolicyChange
		decode(t, e.call(t, "POST", "/api/v1/selector-policies", e.admin, d.PolicyInput{Selector: "env=prod", Rules: []d.RuleInput{{Port: 22}}, Approval: manual}), http.StatusOK, &c)
		if len(c.Weakenings) != 0 {
			t.Errorf("a new selector policy over unprotected machines weakens %v", fields(c.Weakenings))
		}
		decode(t, e.call(t, "POST", "/api/v1/selector-policies", e.admin, d.PolicyInput{Selector: "env=prod,team=db", Rules: []d.RuleInput{{Port: 22}}}), http.StatusOK, &c)
		if got, want := fields(c.Weakenings), []string{"db1:approval.mode"}; !slices.Equal(got, want) {
			t.Errorf("weakenings = %v, want %v", got, want)
		}
	})
}

// TestMachineListStatusFilter: ?status= keeps machines with those
// statuses; an unknown status is a 400 naming the field.
func TestMachineListStatusFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	e.enroll(t, "web2")
	e.policy(t, "web1", d.RuleInput{Port: 22})
	names := func(query string) []string {
		t.Helper()
		var out struct {
			Machines []d.MachineView `json:"machines"`
		}
		decode(t, e.call(t, "GET", "/api/v1/machines"+query, e.admin, nil), http.StatusOK, &out)
		var ns []string
		for _, m := range out.Machines {
			ns = append(ns, m.Name)
		}
		return ns
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"web1", "web2"}},
		{"?status=configured", []string{"web1"}},
		{"?status=not_configured", []string{"web2"}},
		{"?status=unsupported", nil},
		{"?status=configured,not_configured", []string{"web1", "web2"}},
	}
	for _, tt := range tests {
		if got := names(tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("GET /api/v1/machines%s = %v, want %v", tt.query, got, tt.want)
		}
	}
	for _, q := range []string{"?status=", "?status=Configured", "?status=online", "?status=configured,", "?status=configured&status=not_configured"} {
		wantError(t, e.call(t, "GET", "/api/v1/machines"+q, e.admin, nil), http.StatusBadRequest, d.Invalid, "status")
	}
}

// TestPolicyDelete: deleting a machine's own policy (unlike disabling it)
// lets a selector policy govern the machine again; grants the fallback does
// not cover are revoked, and the change is audited with its weakenings.
func TestPolicyDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enrollLabelled(t, "web1", map[string]string{"env": "prod"})
	e.enroll(t, "web2")
	alice, _ := e.token(t, "alice", d.RoleRequester)
	prod := e.selectorPolicy(t, "env=prod", d.RuleInput{Port: 22})
	e.setPolicy(t, "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}, {Port: 5432}}, Approval: &d.ApprovalInput{Mode: d.ApprovalAuto}, Limits: &d.Limits{MaxActivePerUser: 3}})
	r := e.request(t, alice, d.RequestInput{Targets: ports("web1", 22, 5432), Source: "10.1.2.3"})

	last := e.lastEventID(t)
	var out d.PolicyDeletion
	decode(t, e.call(t, "DELETE", "/api/v1/machines/web1/policy", e.admin, nil), http.StatusOK, &out)
	if out.Policy == nil || out.Policy.ID != prod {
		t.Fatalf("after delete, web1 governed by %+v, want %s", out.Policy, prod)
	}
	var ws []string
	for _, w := range out.Weakenings {
		ws = append(ws, w.Field)
	}
	if want := []string{"rules", "limits.max_active_per_user"}; !slices.Equal(ws, want) {
		t.Errorf("weakenings = %v, want %v", ws, want)
	}
	var p d.Policy
	decode(t, e.call(t, "GET", "/api/v1/machines/web1/policy", e.admin, nil), http.StatusOK, &p)
	if p.ID != prod {
		t.Errorf("GET policy after delete: %+v, want the selector policy %s", p, prod)
	}
	got := e.getRequest(t, alice, r.ID)
	for _, tg := range got.Targets {
		if want := tg.Port == 5432; (tg.Status == d.StatusRevoked) != want {
			t.Errorf("target %d: status %s, revoked should be %v", tg.Port, tg.Status, want)
		}
	}
	evs := e.events(t, last)
	if !slices.ContainsFunc(evs, func(ev d.Event) bool {
		return ev.Action == d.EvPolicyDeleted && strings.Contains(ev.Details, prod) && strings.Contains(ev.Details, "weakenings")
	}) {
		t.Errorf("no policy.deleted event with the fallback and weakenings: %+v", evs)
	}

	t.Run("without a selector policy the machine has none", func(t *testing.T) {
		e.policy(t, "web2", d.RuleInput{Port: 22})
		var out d.PolicyDeletion
		decode(t, e.call(t, "DELETE", "/api/v1/machines/web2/policy", e.admin, nil), http.StatusOK, &out)
		if out.Policy != nil || len(out.Weakenings) != 1 || out.Weakenings[0].Field != "policy" {
			t.Errorf("delete = %+v, want no policy and one weakening (policy)", out)
		}
		wantError(t, e.call(t, "GET", "/api/v1/machines/web2/policy", e.admin, nil), http.StatusNotFound, d.NotFound, "")
	})
	t.Run("no policy of its own", func(t *testing.T) {
		before := e.snapshot(t)
		wantError(t, e.call(t, "DELETE", "/api/v1/machines/web1/policy", e.admin, nil), http.StatusNotFound, d.NotFound, "")
		e.wantUnchanged(t, before)
	})
}

// TestSelectorPriority: two one-term selectors on different keys can both
// match a machine; an explicit priority says which wins, and only equal
// priority (and as many terms) is refused.
func TestSelectorPriority(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enrollLabelled(t, "db1", map[string]string{"env": "prod", "team": "db"})
	prio := func(n int) *int { return &n }
	post := func(t *testing.T, in d.PolicyInput) d.PolicyChange {
		t.Helper()
		var c d.PolicyChange
		decode(t, e.call(t, "POST", "/api/v1/selector-policies", e.admin, in), http.StatusOK, &c)
		return c
	}
	governing := func(t *testing.T) d.Policy {
		t.Helper()
		var p d.Policy
		decode(t, e.call(t, "GET", "/api/v1/machines/db1/policy", e.admin, nil), http.StatusOK, &p)
		return p
	}
	prod := post(t, d.PolicyInput{Selector: "env=prod", Rules: []d.RuleInput{{Port: 22}}, Approval: &d.ApprovalInput{Mode: d.ApprovalManual}})

	before := e.snapshot(t)
	wantError(t, e.call(t, "POST", "/api/v1/selector-policies", e.admin, d.PolicyInput{Selector: "team=db", Rules: []d.RuleInput{{Port: 5432}}}), http.StatusBadRequest, d.Invalid, "selector")
	wantError(t, e.call(t, "POST", "/api/v1/selector-policies", e.admin, d.PolicyInput{Selector: "team=db", Priority: prio(1001), Rules: []d.RuleInput{{Port: 5432}}}), http.StatusBadRequest, d.Invalid, "priority")
	wantError(t, e.call(t, "PUT", "/api/v1/machines/db1/policy", e.admin, d.PolicyInput{Priority: prio(1), Rules: []d.RuleInput{{Port: 22}}}), http.StatusBadRequest, d.Invalid, "priority")
	e.wantUnchanged(t, before)

	c := post(t, d.PolicyInput{Selector: "team=db", Priority: prio(10), Rules: []d.RuleInput{{Port: 5432}}})
	if c.Priority != 10 {
		t.Errorf("priority = %d, want 10", c.Priority)
	}
	if p := governing(t); p.Selector != "team=db" {
		t.Errorf("db1 governed by %q, want team=db (priority 10)", p.Selector)
	}
	if got := c.Weakenings; len(got) == 0 || got[0].Machine != "db1" {
		t.Errorf("taking over from a manual policy: weakenings %+v, want db1's", got)
	}

	// Nil priority keeps it; lowering it hands db1 back.
	c = post(t, d.PolicyInput{Selector: "team=db", Rules: []d.RuleInput{{Port: 5433}}})
	if c.Priority != 10 {
		t.Errorf("priority after a change without it = %d, want 10", c.Priority)
	}
	post(t, d.PolicyInput{Selector: "team=db", Priority: prio(-1)})
	if p := governing(t); p.Selector != "env=prod" {
		t.Errorf("db1 governed by %q, want env=prod (team=db at -1)", p.Selector)
	}

	// Deleting env=prod hands db1 to the automatic team=db: audited as a weakening.
	last := e.lastEventID(t)
	decode(t, e.call(t, "DELETE", "/api/v1/selector-policies/"+prod.ID, e.admin, nil), http.StatusNoContent, nil)
	evs := e.events(t, last)
	if len(evs) == 0 || evs[0].Action != d.EvPolicyDeleted || !strings.Contains(evs[0].Details, "db1") || !strings.Contains(evs[0].Details, "approval.mode") {
		t.Errorf("events after the delete: %+v", evs)
	}
}

// setPolicy sets a machine's whole policy as the admin.
func (e *testEnv) setPolicy(t *testing.T, machine string, in d.PolicyInput) *d.Policy {
	t.Helper()
	var p d.Policy
	decode(t, e.call(t, "PUT", "/api/v1/machines/"+machine+"/policy", e.admin, in), http.StatusOK, &p)
	return &p
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
