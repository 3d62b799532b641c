package web_test

import (
	"net/http"
	"testing"

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
