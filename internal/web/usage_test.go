package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// findEvent returns the first event with action on target.
func findEvent(es []d.Event, action, target string) (d.Event, bool) {
	for _, ev := range es {
		if ev.Action == action && ev.Target == target {
			return ev, true
		}
	}
	return d.Event{}, false
}

// TestAgentUsage: an agent reports its grants' counters, which show on the
// request; it may not report another machine's targets; reports are
// idempotent; the expiry event records the use.
func TestAgentUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.enroll(t, "web1")
	other := e.enroll(t, "web2")
	e.policy(t, "web1", d.RuleInput{Port: 22})
	e.policy(t, "web2", d.RuleInput{Port: 22})
	r := e.activeRequest(t, e.admin, a, d.RequestInput{Targets: ports("web1", 22), Source: "198.51.100.7", Duration: "1h"})
	tg := r.Targets[0].ID
	if r.Targets[0].Usage != nil {
		t.Fatalf("usage before any report: %+v", r.Targets[0].Usage)
	}
	path := "/api/v1/agent/machines/" + string(a.id) + "/usage"
	report := d.UsageInput{Epoch: "run1", Targets: []d.TargetUsage{{Target: tg, Packets: 12, Bytes: 14_000_000,
		FirstSeenAgo: d.Duration(time.Minute), LastSeenAgo: d.Duration(10 * time.Second)}}}

	// Another machine's agent may not report it, nor may a person.
	wantError(t, other.call(t, e, "POST", "/api/v1/agent/machines/"+string(other.id)+"/usage", report), http.StatusForbidden, d.Forbidden, "targets[0].target")
	wantError(t, other.call(t, e, "POST", path, report), http.StatusForbidden, d.Forbidden, "")
	wantError(t, e.call(t, "POST", path, e.admin, report), http.StatusUnauthorized, d.Unauthenticated, "")
	if u := e.getRequest(t, e.admin, r.ID).Targets[0].Usage; u != nil {
		t.Fatalf("refused reports stored usage %+v", u)
	}
	wantError(t, a.call(t, e, "POST", path, d.UsageInput{Targets: report.Targets}), http.StatusBadRequest, d.Invalid, "epoch")

	for range 2 { // the same report twice counts once
		decode(t, a.call(t, e, "POST", path, report), http.StatusNoContent, nil)
	}
	now := e.clock.Now()
	u := e.getRequest(t, e.admin, r.ID).Targets[0].Usage
	if u == nil || u.Packets != 12 || u.Bytes != 14_000_000 || !u.LastUsedAt.Equal(now.Add(-10*time.Second)) ||
		!u.FirstUsedAt.Equal(now.Add(-time.Minute)) || !u.ReportedAt.Equal(now) {
		t.Fatalf("usage %+v; want 12 packets, 14 MB, first 1m and last 10s before %s", u, now)
	}

	// The agent restarted (new epoch): its counts add up.
	e.clock.Advance(time.Minute)
	report = d.UsageInput{Epoch: "run2", Targets: []d.TargetUsage{{Target: tg, Packets: 1, Bytes: 100}}}
	decode(t, a.call(t, e, "POST", path, report), http.StatusNoContent, nil)
	if u := e.getRequest(t, e.admin, r.ID).Targets[0].Usage; u.Packets != 13 || u.Bytes != 14_000_100 {
		t.Errorf("after a restart: %d packets %d bytes, want 13 and 14000100", u.Packets, u.Bytes)
	}

	// At the end, the audit records it.
	before := e.lastEventID(t)
	e.clock.Advance(time.Hour)
	if _, err := e.svc.Expire(t.Context()); err != nil {
		t.Fatal(err)
	}
	ev, ok := findEvent(e.events(t, before), d.EvRequestExpired, string(tg))
	if !ok || !strings.Contains(ev.Reason, "used: yes, 14 MB, last packet ") || !strings.Contains(ev.Details, `"packets":13`) {
		t.Errorf("expiry event %+v: want the usage in reason and details", ev)
	}
}

// TestIdleClose: grants with no traffic for the rule's idle timeout are
// revoked with reason "idle", by the system, and the agent is told.
func TestIdleClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.enroll(t, "web1")
	e.policy(t, "web1", d.RuleInput{Port: 22, IdleTimeout: "15m"}, d.RuleInput{Port: 443})
	quiet := e.activeRequest(t, e.admin, a, d.RequestInput{Targets: ports("web1", 22), Source: "198.51.100.7", Duration: "1h"})
	busy := e.activeRequest(t, e.admin, a, d.RequestInput{Targets: ports("web1", 22), Source: "198.51.100.8", Duration: "1h"})
	noRule := e.activeRequest(t, e.admin, a, d.RequestInput{Targets: ports("web1", 443), Source: "198.51.100.7", Duration: "1h"})
	path := "/api/v1/agent/machines/" + string(a.id) + "/usage"

	e.clock.Advance(10 * time.Minute)
	decode(t, a.call(t, e, "POST", path, d.UsageInput{Epoch: "x", Targets: []d.TargetUsage{{Target: busy.Targets[0].ID, Packets: 1, Bytes: 60}}}), http.StatusNoContent, nil)
	e.clock.Advance(5*time.Minute - time.Millisecond)
	if n, err := e.svc.CloseIdle(t.Context()); err != nil || n != 0 {
		t.Fatalf("CloseIdle before the timeout = %d, %v; want 0", n, err)
	}
	version := e.machine(t, "web1").StateVersion
	before := e.lastEventID(t)
	e.clock.Advance(time.Millisecond)
	if n, err := e.svc.CloseIdle(t.Context()); err != nil || n != 1 {
		t.Fatalf("CloseIdle at the timeout = %d, %v; want 1", n, err)
	}
	got := e.getRequest(t, e.admin, quiet.ID)
	if got.Status != d.StatusRevoked || got.Targets[0].Reason != d.ReasonIdle {
		t.Errorf("quiet grant: %s (%s), want revoked (idle)", got.Status, got.Targets[0].Reason)
	}
	for _, r := range []*d.Request{busy, noRule} {
		if got := e.getRequest(t, e.admin, r.ID); got.Status != d.StatusActive {
			t.Errorf("request %s: %s, want active", r.ID, got.Status)
		}
	}
	if v := e.machine(t, "web1").StateVersion; v <= version {
		t.Errorf("state version %d after idle close, want > %d", v, version)
	}
	if ds := a.state(t); len(ds.Grants) != 2 {
		t.Errorf("desired state after idle close has %d grants, want 2", len(ds.Grants))
	}
	ev, ok := findEvent(e.events(t, before), d.EvRequestRevoked, string(quiet.Targets[0].ID))
	if !ok || ev.Actor != d.SystemActor.Subject() || !strings.HasPrefix(ev.Reason, "idle: no traffic for 15m; used: unknown (the agent did not report counters)") {
		t.Errorf("idle event %+v: want reason idle by the system", ev)
	}

	// The busy one goes idle 15 minutes after its last packet.
	e.clock.Advance(10 * time.Minute)
	if n, err := e.svc.CloseIdle(t.Context()); err != nil || n != 1 {
		t.Fatalf("CloseIdle of the busy grant = %d, %v; want 1", n, err)
	}
}

// TestPolicyIdleTimeout: the idle timeout is validated against the rule's
// max duration.
func TestPolicyIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	p := e.policy(t, "web1", d.RuleInput{Port: 22, MaxDuration: "1h", IdleTimeout: "PT15M"})
	if p.Rules[0].IdleTimeout != d.Duration(15*time.Minute) {
		t.Errorf("idle timeout %s, want 15m", p.Rules[0].IdleTimeout)
	}
	in := d.PolicyInput{Rules: []d.RuleInput{{Port: 22, MaxDuration: "1h", IdleTimeout: "2h"}}}
	wantError(t, e.call(t, "PUT", "/api/v1/machines/web1/policy", e.admin, in), http.StatusBadRequest, d.Invalid, "rules[0].idle_timeout")
	in.Rules[0].IdleTimeout = "soon"
	wantError(t, e.call(t, "PUT", "/api/v1/machines/web1/policy", e.admin, in), http.StatusBadRequest, d.Invalid, "rules[0].idle_timeout")
}

// TestTargetUsedState: a grant's JSON says whether it was used, and says
// "unknown" (not "no") while its agent never reported its counters.
func TestTargetUsedState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.enroll(t, "web1")
	e.policy(t, "web1", d.RuleInput{Port: 22})
	used := func(id d.RequestID) string {
		t.Helper()
		var r struct {
			Targets []struct {
				Used *string `json:"used"`
			} `json:"targets"`
		}
		decode(t, e.call(t, "GET", "/api/v1/requests/"+string(id), e.admin, nil), http.StatusOK, &r)
		if r.Targets[0].Used == nil {
			return "(absent)"
		}
		return *r.Targets[0].Used
	}
	pending := e.request(t, e.admin, d.RequestInput{Targets: ports("web1", 22), Source: "198.51.100.8", Duration: "1h"})
	if got := used(pending.ID); got != "(absent)" {
		t.Errorf("a grant not yet open: used %q, want absent", got)
	}
	r := e.activeRequest(t, e.admin, a, d.RequestInput{Targets: ports("web1", 22), Source: "198.51.100.7", Duration: "1h"})
	if got := used(r.ID); got != "unknown" {
		t.Errorf("open, no report from the agent: used %q, want unknown", got)
	}
	path := "/api/v1/agent/machines/" + string(a.id) + "/usage"
	report := d.UsageInput{Epoch: "run1", Targets: []d.TargetUsage{{Target: r.Targets[0].ID}}}
	decode(t, a.call(t, e, "POST", path, report), http.StatusNoContent, nil)
	if got := used(r.ID); got != "no" {
		t.Errorf("reported with no traffic: used %q, want no", got)
	}
	report.Targets[0].Packets, report.Targets[0].Bytes = 3, 180
	decode(t, a.call(t, e, "POST", path, report), http.StatusNoContent, nil)
	if got := used(r.ID); got != "yes" {
		t.Errorf("reported with traffic: used %q, want yes", got)
	}
}
