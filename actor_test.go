package drawbridge_test

import (
	"slices"
	"testing"

	d "github.com/drawbridge/drawbridge"
)

var allActions = []d.Action{
	d.ActPoliciesRead, d.ActPoliciesWrite, d.ActRequestsInitiate, d.ActRequestsRead,
	d.ActRequestsRevoke, d.ActRequestsApprove, d.ActMachinesRead, d.ActMachinesEnroll, d.ActAuditRead, d.ActAdmin,
}

func TestRoleActions(t *testing.T) {
	tests := []struct {
		role   d.Role
		can    []d.Action
		cannot []d.Action
	}{
		{d.RoleAdmin, allActions, nil},
		{
			d.RolePolicyAdmin,
			[]d.Action{d.ActPoliciesRead, d.ActPoliciesWrite, d.ActRequestsRead, d.ActRequestsRevoke, d.ActMachinesRead, d.ActMachinesEnroll},
			[]d.Action{d.ActAdmin, d.ActRequestsInitiate, d.ActAuditRead},
		},
		{
			d.RoleRequester,
			[]d.Action{d.ActRequestsInitiate, d.ActPoliciesRead, d.ActMachinesRead},
			[]d.Action{d.ActPoliciesWrite, d.ActRequestsRead, d.ActRequestsRevoke, d.ActMachinesEnroll, d.ActAuditRead, d.ActAdmin},
		},
		{
			d.RoleReader,
			[]d.Action{d.ActPoliciesRead, d.ActRequestsRead, d.ActMachinesRead},
			[]d.Action{d.ActPoliciesWrite, d.ActRequestsInitiate, d.ActRequestsRevoke, d.ActMachinesEnroll, d.ActAuditRead, d.ActAdmin},
		},
		{
			d.RoleAuditor,
			[]d.Action{d.ActPoliciesRead, d.ActRequestsRead, d.ActMachinesRead, d.ActAuditRead},
			[]d.Action{d.ActPoliciesWrite, d.ActRequestsInitiate, d.ActRequestsRevoke, d.ActMachinesEnroll, d.ActAdmin},
		},
		{"owner", nil, allActions},
		{"", nil, allActions},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			acts := tt.role.Actions()
			for _, a := range tt.can {
				if !slices.Contains(acts, a) {
					t.Errorf("%s lacks %s", tt.role, a)
				}
			}
			for _, a := range tt.cannot {
				if slices.Contains(acts, a) {
					t.Errorf("%s has %s", tt.role, a)
				}
			}
			if want := len(tt.can) > 0; tt.role.Valid() != want {
				t.Errorf("%q.Valid() = %v, want %v", tt.role, tt.role.Valid(), want)
			}
		})
	}
}

func TestRequesterIsLeastPrivileged(t *testing.T) {
	req := d.RoleRequester.Actions()
	for _, r := range d.Roles() {
		if n := len(r.Actions()); n < len(req) {
			t.Errorf("%s has %d actions, fewer than requester's %d", r, n, len(req))
		}
	}
	if got := d.RoleAdmin.Actions(); len(got) != len(allActions) {
		t.Errorf("admin has %d actions, want all %d", len(got), len(allActions))
	}
}

// tokenWith is an API token actor with role r granted everywhere, as
// Authenticate builds it.
func tokenWith(r d.Role) d.Actor {
	return d.Actor{Kind: d.ActorToken, Role: r, RoleGrants: []d.RoleGrant{{Role: r, Actions: r.Actions(), Scope: d.ScopeAll}}}
}

func TestActorCan(t *testing.T) {
	tests := []struct {
		name  string
		actor d.Actor
		act   d.Action
		want  bool
	}{
		{"admin token", tokenWith(d.RoleAdmin), d.ActAdmin, true},
		{"requester initiates", tokenWith(d.RoleRequester), d.ActRequestsInitiate, true},
		{"requester cannot write policies", tokenWith(d.RoleRequester), d.ActPoliciesWrite, false},
		{"requester cannot read all requests", tokenWith(d.RoleRequester), d.ActRequestsRead, false},
		{"requester is not admin", tokenWith(d.RoleRequester), d.ActAdmin, false},
		{"reader cannot revoke", tokenWith(d.RoleReader), d.ActRequestsRevoke, false},
		{"system can everything", d.SystemActor, d.ActAdmin, true},
		{"agent without role", d.Actor{Kind: d.ActorAgent, ID: "mch_abcdefgh"}, d.ActPoliciesRead, false},
		{"anonymous", d.Actor{Kind: d.ActorAnon}, d.ActMachinesRead, false},
		{"unknown role", tokenWith("root"), d.ActPoliciesRead, false},
		{"scoped grant does not cover everything", d.Actor{Kind: d.ActorToken, RoleGrants: []d.RoleGrant{{Actions: d.RoleAdmin.Actions(), Scope: "selector:env=dev"}}}, d.ActPoliciesRead, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.actor.Can(tt.act); got != tt.want {
				t.Errorf("Can(%s) = %v, want %v", tt.act, got, tt.want)
			}
		})
	}
}

func TestActorSubject(t *testing.T) {
	tests := []struct {
		name  string
		actor d.Actor
		want  string
	}{
		{"token", d.Actor{Kind: d.ActorToken, ID: "tok_abcdefgh"}, "token:tok_abcdefgh"},
		{"agent", d.Actor{Kind: d.ActorAgent, ID: "mch_abcdefgh"}, "agent:mch_abcdefgh"},
		{"system", d.SystemActor, "system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.actor.Subject(); got != tt.want {
				t.Errorf("Subject() = %q, want %q", got, tt.want)
			}
		})
	}
}
