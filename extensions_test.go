package drawbridge_test

import (
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

func TestCheckExtension(t *testing.T) {
	start := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	now := start.Add(30 * time.Minute)
	web := &d.Machine{ID: "mch_aaaaaaaaaaaaaaaaaaaa", Name: "web-1", Labels: map[string]string{"env": "dev"}}
	db := &d.Machine{ID: "mch_bbbbbbbbbbbbbbbbbbbb", Name: "db-1", Labels: map[string]string{"env": "prod"}}
	ssh := &d.Policy{Enabled: true, Rules: []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)}}}
	other := &d.Policy{Enabled: true, Rules: []d.PortRule{{Port: 443, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)}}}
	disabled := &d.Policy{Enabled: false, Rules: ssh.Rules}
	requester := d.Actor{Kind: d.ActorToken, ID: "tok_req000000", Name: "req", Role: d.RoleRequester,
		RoleGrants: []d.RoleGrant{{Role: d.RoleRequester, Actions: d.RoleRequester.Actions(), Scope: d.ScopeAll}}}
	devOnly := requester
	devOnly.RoleGrants = []d.RoleGrant{{Role: d.RoleRequester, Actions: d.RoleRequester.Actions(), Scope: "selector:env=dev"}}
	someoneElse := requester
	someoneElse.ID = "tok_else00000"
	request := func(status d.Status, approval d.ApprovalRule, extendBy time.Duration) *d.Request {
		end := start.Add(time.Hour)
		return &d.Request{ID: "req_aaaaaaaaaaaaaaaaaaaa", Requester: "token:tok_req000000", Start: start, End: end, Status: status,
			Approval: approval, ExtendBy: dur(extendBy), Targets: []d.Target{
				{MachineID: web.ID, MachineName: web.Name, Port: 22, Protocol: d.TCP, Status: status, End: end},
				{MachineID: db.ID, MachineName: db.Name, Port: 22, Protocol: d.TCP, Status: status, End: end},
			}}
	}
	auto := d.ApprovalRule{Mode: d.ApprovalAuto}
	manual := d.ApprovalRule{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 1}}, Extensions: d.ApprovalManual}
	manualAutoExt := manual
	manualAutoExt.Extensions = d.ApprovalAuto
	both := []*d.Machine{web, db}
	policies := map[d.MachineID]*d.Policy{web.ID: ssh, db.ID: ssh}
	tests := []struct {
		name         string
		a            d.Actor
		r            *d.Request
		by           time.Duration
		ms           []*d.Machine
		deleted      bool
		policies     map[d.MachineID]*d.Policy
		wantApproval bool
		wantKind     d.Kind // empty: may extend
		wantField    string
	}{
		{"automatic", requester, request(d.StatusActive, auto, 0), time.Hour, both, false, policies, false, "", ""},
		{"up to the maximum from the start", requester, request(d.StatusActive, auto, 0), 2 * time.Hour, both, false, policies, false, "", ""},
		{"approval again", requester, request(d.StatusActive, manual, 0), time.Hour, both, false, policies, true, "", ""},
		{"manual request, automatic extensions", requester, request(d.StatusActive, manualAutoExt, 0), time.Hour, both, false, policies, false, "", ""},
		{"not the requester", someoneElse, request(d.StatusActive, auto, 0), time.Hour, both, false, policies, false, d.Forbidden, ""},
		{"may no longer ask on every machine", devOnly, request(d.StatusActive, auto, 0), time.Hour, both, false, policies, false, d.Forbidden, ""},
		{"a machine was deleted", requester, request(d.StatusActive, auto, 0), time.Hour, []*d.Machine{web}, true, policies, false, d.Forbidden, ""},
		{"nothing open", requester, request(d.StatusExpired, auto, 0), time.Hour, both, false, policies, false, d.Conflict, ""},
		{"another extension waits", requester, request(d.StatusActive, manual, time.Hour), time.Hour, both, false, policies, false, d.Conflict, ""},
		{"over the maximum from the start", requester, request(d.StatusActive, auto, 0), 2*time.Hour + time.Second, both, false, policies, false, d.Invalid, "by"},
		{"port left the policy", requester, request(d.StatusActive, auto, 0), time.Hour, both, false, map[d.MachineID]*d.Policy{web.ID: ssh, db.ID: other}, false, d.Conflict, "targets[1]"},
		{"policy disabled", requester, request(d.StatusActive, auto, 0), time.Hour, both, false, map[d.MachineID]*d.Policy{web.ID: disabled, db.ID: ssh}, false, d.Conflict, "targets[0]"},
		{"no policy", requester, request(d.StatusActive, auto, 0), time.Hour, both, false, map[d.MachineID]*d.Policy{web.ID: ssh, db.ID: nil}, false, d.Conflict, "targets[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.CheckExtension(tt.a, tt.r, dur(tt.by), tt.ms, tt.deleted, tt.policies, 24*time.Hour, now)
			if tt.wantKind != "" {
				if err == nil {
					t.Fatalf("CheckExtension = %v, want a %s error", got, tt.wantKind)
				}
				checkError(t, err, tt.wantKind, tt.wantField)
				return
			}
			if err != nil {
				t.Fatalf("CheckExtension error: %v", err)
			}
			if got != tt.wantApproval {
				t.Errorf("CheckExtension needs approval = %v, want %v", got, tt.wantApproval)
			}
		})
	}
}

func TestExtensionFitsServerCap(t *testing.T) {
	start := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	m := d.MachineID("mch_aaaaaaaaaaaaaaaaaaaa")
	p := &d.Policy{Enabled: true, Rules: []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(48 * time.Hour)}}}
	r := &d.Request{Start: start, End: start.Add(time.Hour), Targets: []d.Target{{MachineID: m, Port: 22, Protocol: d.TCP, Status: d.StatusActive}}}
	err := d.ExtensionFits(r, dur(24*time.Hour), map[d.MachineID]*d.Policy{m: p}, 24*time.Hour)
	checkError(t, err, d.Invalid, "by")
}
