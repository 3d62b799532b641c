package drawbridge_test

import (
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

func TestEligibleRoleRespectsScope(t *testing.T) {
	dev := &d.Machine{ID: "mch_aaaaaaaaaaaaaaaaaaaa", Labels: map[string]string{"env": "dev"}}
	prod := &d.Machine{ID: "mch_bbbbbbbbbbbbbbbbbbbb", Labels: map[string]string{"env": "prod"}}
	level := d.ApprovalLevel{Quorum: 1, Approvers: []string{"role:approver"}}
	devApprover := d.Actor{Kind: d.ActorToken, ID: "tok_ann000000", RoleGrants: []d.RoleGrant{
		{Role: d.RoleApprover, Actions: d.RoleApprover.Actions(), Scope: "selector:env=dev"},
		{Role: d.RolePolicyAdmin, Actions: append(d.RolePolicyAdmin.Actions(), d.ActRequestsApprove), Scope: d.ScopeAll},
	}}
	tests := []struct {
		name string
		ms   []*d.Machine
		want bool
	}{
		{"in the approver's scope", []*d.Machine{dev}, true},
		{"outside it, although another role may approve there", []*d.Machine{prod}, false},
		{"a request on both", []*d.Machine{dev, prod}, false},
	}
	for _, tt := range tests {
		if got := level.Eligible(devApprover, tt.ms); got != tt.want {
			t.Errorf("%s: Eligible = %v, want %v", tt.name, got, tt.want)
		}
	}
	group := d.ApprovalLevel{Quorum: 1, Approvers: []string{"group:oncall"}}
	user := d.Actor{Kind: d.ActorUser, ID: "bob@example.com", Groups: []string{"oncall"}}
	if !group.Eligible(user, []*d.Machine{prod}) || group.Eligible(devApprover, []*d.Machine{prod}) {
		t.Error("group approver lists match on the actor's groups")
	}
	if !(d.ApprovalLevel{Quorum: 2}).Eligible(devApprover, []*d.Machine{prod}) {
		t.Error("a level with no approver list admits anyone who may approve")
	}
}

func TestProgressAndRound(t *testing.T) {
	rule := d.ApprovalRule{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 2}, {Quorum: 1}}}
	ap := func(who string, level int, dec string) d.Approval {
		return d.Approval{Approver: who, Kind: d.ApprovalForRequest, Level: level, Decision: dec}
	}
	p := d.Progress(rule, []d.Approval{ap("token:a", 0, d.DecisionApprove)}, d.ApprovalForRequest)
	if p.Final || p.Level != 0 || p.Have != 1 {
		t.Errorf("one of two at level 1: %+v", p)
	}
	p = d.Progress(rule, []d.Approval{ap("token:a", 0, d.DecisionApprove), ap("token:b", 0, d.DecisionApprove)}, d.ApprovalForRequest)
	if p.Final || p.Level != 1 {
		t.Errorf("level 1 done: %+v", p)
	}
	p = d.Progress(rule, []d.Approval{ap("token:a", 0, d.DecisionApprove), ap("token:b", 0, d.DecisionApprove), ap("token:c", 1, d.DecisionApprove)}, d.ApprovalForRequest)
	if !p.Final {
		t.Errorf("both levels done: %+v", p)
	}
	if p := d.Progress(rule, []d.Approval{ap("token:a", 0, d.DecisionDeny)}, d.ApprovalForRequest); !p.Denied {
		t.Errorf("a denial: %+v", p)
	}
	ext := d.ApprovalRule{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 1}}}
	first := d.Approval{Approver: "token:a", Kind: d.ApprovalForExtension, Decision: d.DecisionApprove}
	if r := d.Round(ext, []d.Approval{first}, d.ApprovalForExtension); len(r) != 0 {
		t.Errorf("a finished extension round leaves nothing pending: %+v", r)
	}
}

// TestProgressCountsPersons: two approvals by one person, through two tokens
// with one owner, are one towards a quorum (issue 7, item 8).
func TestProgressCountsPersons(t *testing.T) {
	rule := d.ApprovalRule{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 2}}}
	ap := func(who, person string) d.Approval {
		return d.Approval{Approver: who, ApproverPerson: person, Kind: d.ApprovalForRequest, Decision: d.DecisionApprove}
	}
	for _, tt := range []struct {
		name  string
		aps   []d.Approval
		have  int
		final bool
	}{
		{"two tokens of one owner", []d.Approval{ap("token:a1", "user:ann"), ap("token:a2", "user:ann")}, 1, false},
		{"a token and its owner signed in", []d.Approval{ap("token:a1", "user:ann"), ap("user:ann", "")}, 1, false},
		{"two people", []d.Approval{ap("token:a1", "user:ann"), ap("token:b1", "user:bob")}, 0, true},
		{"tokens without owners are people of their own", []d.Approval{ap("token:a1", ""), ap("token:a2", "")}, 0, true},
	} {
		p := d.Progress(rule, tt.aps, d.ApprovalForRequest)
		if p.Final != tt.final || (!tt.final && p.Have != tt.have) {
			t.Errorf("%s: %+v, want have %d final %v", tt.name, p, tt.have, tt.final)
		}
	}
}

func TestMayDecide(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	dev := &d.Machine{ID: "mch_aaaaaaaaaaaaaaaaaaaa", Labels: map[string]string{"env": "dev"}}
	prod := &d.Machine{ID: "mch_bbbbbbbbbbbbbbbbbbbb", Labels: map[string]string{"env": "prod"}}
	approver := func(id, owner string, scope d.Scope) d.Actor {
		return d.Actor{Kind: d.ActorToken, ID: id, Owner: owner, RoleGrants: []d.RoleGrant{{Role: d.RoleApprover, Actions: d.RoleApprover.Actions(), Scope: scope}}}
	}
	ann := approver("tok_ann000000", "user:ann", d.ScopeAll)
	annToo := approver("tok_ann111111", "user:ann", d.ScopeAll)
	bob := d.Actor{Kind: d.ActorUser, ID: "bob", RoleGrants: ann.RoleGrants}
	devOnly := approver("tok_dev000000", "user:dave", "selector:env=dev")
	two := d.ApprovalRule{Mode: d.ApprovalManual, PendingTTL: dur(time.Hour), Extensions: d.ApprovalManual,
		Levels: []d.ApprovalLevel{{Quorum: 1}, {Quorum: 1, Approvers: []string{"user:bob"}}}}
	pending := func(approvals ...d.Approval) *d.Request {
		return &d.Request{ID: "req_aaaaaaaaaaaaaaaaaaaa", Requester: "token:tok_req000000", RequesterPerson: "user:rita",
			Status: d.StatusPending, PendingUntil: now.Add(time.Minute), Approval: two, Approvals: approvals}
	}
	extending := &d.Request{ID: "req_bbbbbbbbbbbbbbbbbbbb", Requester: "token:tok_req000000", RequesterPerson: "user:rita",
		Status: d.StatusActive, ExtendBy: dur(time.Hour), Approval: d.ApprovalRule{Mode: d.ApprovalAuto}}
	late := pending()
	late.PendingUntil = now
	active := *extending
	active.ExtendBy = 0
	byAnn := d.Approval{Approver: "token:tok_ann000000", ApproverPerson: "user:ann", Kind: d.ApprovalForRequest, Level: 0, Decision: d.DecisionApprove}
	byBob := d.Approval{Approver: "user:bob", Kind: d.ApprovalForRequest, Level: 1, Decision: d.DecisionApprove}
	tests := []struct {
		name      string
		a         d.Actor
		r         *d.Request
		ms        []*d.Machine
		deleted   bool
		wantKind  string
		wantLevel int
		wantErr   d.Kind // empty: may decide
	}{
		{"first level", ann, pending(), []*d.Machine{dev, prod}, false, d.ApprovalForRequest, 0, ""},
		{"second level, listed approver", bob, pending(byAnn), []*d.Machine{dev}, false, d.ApprovalForRequest, 1, ""},
		{"second level, not listed", devOnly, pending(byAnn), []*d.Machine{dev}, false, "", 0, d.Forbidden},
		{"an extension", ann, extending, []*d.Machine{dev}, false, d.ApprovalForExtension, 0, ""},
		{"may not approve anywhere", d.Actor{Kind: d.ActorToken, ID: "tok_read00000", RoleGrants: []d.RoleGrant{{Role: d.RoleReader, Actions: d.RoleReader.Actions(), Scope: d.ScopeAll}}},
			pending(), []*d.Machine{dev}, false, "", 0, d.Forbidden},
		{"not approved in time", ann, late, []*d.Machine{dev}, false, "", 0, d.Conflict},
		{"nothing waits", ann, &active, []*d.Machine{dev}, false, "", 0, d.Conflict},
		{"self-approval by the requester's person", approver("tok_rita00000", "user:rita", d.ScopeAll), pending(), []*d.Machine{dev}, false, "", 0, d.Forbidden},
		{"out of scope on one machine", devOnly, pending(), []*d.Machine{dev, prod}, false, "", 0, d.Forbidden},
		{"a machine was deleted", ann, pending(), []*d.Machine{dev}, true, "", 0, d.Forbidden},
		{"same person, another token", annToo, pending(byAnn), []*d.Machine{dev}, false, "", 0, d.Conflict},
		{"already approved", ann, pending(byAnn, byBob), []*d.Machine{dev}, false, "", 0, d.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, level, err := d.MayDecide(tt.a, tt.r, tt.ms, tt.deleted, now)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("MayDecide = %q level %d, want a %s error", kind, level, tt.wantErr)
				}
				checkError(t, err, tt.wantErr, "")
				return
			}
			if err != nil {
				t.Fatalf("MayDecide error: %v", err)
			}
			if kind != tt.wantKind || level != tt.wantLevel {
				t.Errorf("MayDecide = %q level %d, want %q level %d", kind, level, tt.wantKind, tt.wantLevel)
			}
		})
	}
}
