package drawbridge_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

func TestCheckTarget(t *testing.T) {
	m := &d.Machine{ID: "mch_aaaaaaaaaaaaaaaaaaaa", Name: "web-1"}
	p := &d.Policy{MachineID: m.ID, Enabled: true, Rules: []d.PortRule{
		{Port: 22, Protocol: d.TCP, AllowedSources: []string{"10.0.0.0/8", "2001:db8::/32"}, MaxDuration: dur(3 * time.Hour)},
		{Port: 53, Protocol: d.Any, AllowedSources: []string{"*"}, MaxDuration: dur(time.Hour)},
		{Port: 123, Protocol: d.UDP, AllowedSources: []string{"0.0.0.0/0"}, MaxDuration: dur(time.Hour)},
	}}
	src := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	tests := []struct {
		name      string
		policy    *d.Policy
		spec      d.TargetSpec
		d         time.Duration
		want      d.Protocol
		wantKind  d.Kind // empty: no error
		wantField string
	}{
		{"host inside allowed cidr", p, d.TargetSpec{Machine: m, Port: 22, Protocol: d.TCP, Source: src("10.1.2.3/32")}, time.Hour, d.TCP, "", ""},
		{"protocol from the rule", p, d.TargetSpec{Machine: m, Port: 22, Source: src("10.1.2.3/32")}, time.Hour, d.TCP, "", ""},
		{"narrower cidr inside", p, d.TargetSpec{Machine: m, Port: 22, Source: src("10.1.0.0/16")}, time.Hour, d.TCP, "", ""},
		{"whole allowed cidr", p, d.TargetSpec{Machine: m, Port: 22, Source: src("10.0.0.0/8")}, time.Hour, d.TCP, "", ""},
		{"ipv6 inside", p, d.TargetSpec{Machine: m, Port: 22, Source: src("2001:db8::7/128")}, time.Hour, d.TCP, "", ""},
		{"duration at the rule maximum", p, d.TargetSpec{Machine: m, Port: 22, Source: src("10.1.2.3/32")}, 3 * time.Hour, d.TCP, "", ""},
		{"any rule, tcp asked", p, d.TargetSpec{Machine: m, Port: 53, Protocol: d.TCP, Source: src("192.0.2.1/32")}, time.Hour, d.TCP, "", ""},
		{"any rule, udp asked", p, d.TargetSpec{Machine: m, Port: 53, Protocol: d.UDP, Source: src("192.0.2.1/32")}, time.Hour, d.UDP, "", ""},
		{"any rule, nothing asked", p, d.TargetSpec{Machine: m, Port: 53, Source: src("2001:db8::1/128")}, time.Hour, d.Any, "", ""},
		{"any source admits ipv6", p, d.TargetSpec{Machine: m, Port: 53, Source: src("::/0")}, time.Hour, d.Any, "", ""},
		{"port not in policy", p, d.TargetSpec{Machine: m, Port: 80, Source: src("10.1.2.3/32")}, time.Hour, "", d.Invalid, "targets[0].port"},
		{"protocol mismatch", p, d.TargetSpec{Machine: m, Port: 22, Protocol: d.UDP, Source: src("10.1.2.3/32")}, time.Hour, "", d.Invalid, "targets[0].port"},
		{"any asked of a tcp rule", p, d.TargetSpec{Machine: m, Port: 22, Protocol: d.Any, Source: src("10.1.2.3/32")}, time.Hour, "", d.Invalid, "targets[0].port"},
		{"unknown protocol", p, d.TargetSpec{Machine: m, Port: 22, Protocol: "icmp", Source: src("10.1.2.3/32")}, time.Hour, "", d.Invalid, "targets[0].protocol"},
		{"source outside", p, d.TargetSpec{Machine: m, Port: 22, Source: src("192.0.2.1/32")}, time.Hour, "", d.Invalid, "targets[0].source"},
		{"wider cidr than allowed", p, d.TargetSpec{Machine: m, Port: 22, Source: src("10.0.0.0/7")}, time.Hour, "", d.Invalid, "targets[0].source"},
		{"everything asked of a cidr", p, d.TargetSpec{Machine: m, Port: 22, Source: src("0.0.0.0/0")}, time.Hour, "", d.Invalid, "targets[0].source"},
		{"ipv6 source, ipv4-only rule", p, d.TargetSpec{Machine: m, Port: 123, Source: src("2001:db8::1/128")}, time.Hour, "", d.Invalid, "targets[0].source"},
		{"missing source", p, d.TargetSpec{Machine: m, Port: 22}, time.Hour, "", d.Invalid, "targets[0].source"},
		{"duration above the rule maximum", p, d.TargetSpec{Machine: m, Port: 22, Source: src("10.1.2.3/32")}, 3*time.Hour + time.Second, "", d.Invalid, "duration"},
		{"disabled policy", &d.Policy{Enabled: false, Rules: p.Rules}, d.TargetSpec{Machine: m, Port: 22, Source: src("10.1.2.3/32")}, time.Hour, "", d.Conflict, "targets[0].machine"},
		{"no policy", nil, d.TargetSpec{Machine: m, Port: 22, Source: src("10.1.2.3/32")}, time.Hour, "", d.Conflict, "targets[0].machine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.CheckTarget(tt.policy, tt.spec, dur(tt.d), "targets[0]")
			if tt.wantKind != "" {
				if err == nil {
					t.Fatalf("CheckTarget = %q, want a %s error", got, tt.wantKind)
				}
				checkError(t, err, tt.wantKind, tt.wantField)
				return
			}
			if err != nil {
				t.Fatalf("CheckTarget error: %v", err)
			}
			if got != tt.want {
				t.Errorf("CheckTarget = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckDuration(t *testing.T) {
	tests := []struct {
		name    string
		d       time.Duration
		wantErr bool
	}{
		{"minimum", time.Second, false},
		{"cap", 24 * time.Hour, false},
		{"below the minimum", 999 * time.Millisecond, true},
		{"zero", 0, true},
		{"above the cap", 24*time.Hour + time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.CheckDuration(dur(tt.d), 24*time.Hour)
			if !tt.wantErr {
				if err != nil {
					t.Errorf("CheckDuration(%v) error: %v", tt.d, err)
				}
				return
			}
			checkError(t, err, d.Invalid, "duration")
		})
	}
}

func TestCheckJustification(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"empty", "", false},
		{"non-ASCII text", "deploy hotfix INC-42 — über", false},
		{"tab", "deploy hotfix\tINC-42", true}, // a control character like any other
		{"bidi override", "ok \u202Eexe.txt", true},
		{"lone surrogate", "a\xed\xa0\x80", true},
		{"longest", strings.Repeat("a", d.MaxJustification), false},
		{"too long", strings.Repeat("a", d.MaxJustification+1), true},
		{"invalid utf-8", "bad \xff byte", true},
		{"newline", "two\nlines", true},
		{"escape", "\x1b[31mred", true},
		{"delete", "x\x7f", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.CheckJustification(tt.in)
			if !tt.wantErr {
				if err != nil {
					t.Errorf("CheckJustification error: %v", err)
				}
				return
			}
			checkError(t, err, d.Invalid, "justification")
		})
	}
}

func TestStatusOpen(t *testing.T) {
	open := map[d.Status]bool{
		d.StatusPending: true, d.StatusApproved: true, d.StatusApplying: true, d.StatusActive: true,
		d.StatusExpired: false, d.StatusRevoked: false, d.StatusDenied: false, d.StatusFailed: false,
	}
	for s, want := range open {
		if got := s.Open(); got != want {
			t.Errorf("%s.Open() = %v, want %v", s, got, want)
		}
	}
}

func TestTargetExpire(t *testing.T) {
	end := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status d.Status
		now    time.Time
		want   d.Status
		change bool
	}{
		{"active before end", d.StatusActive, end.Add(-time.Nanosecond), d.StatusActive, false},
		{"active at end", d.StatusActive, end, d.StatusExpired, true},
		{"active after end", d.StatusActive, end.Add(time.Hour), d.StatusExpired, true},
		{"applying at end", d.StatusApplying, end, d.StatusExpired, true},
		{"pending after end", d.StatusPending, end.Add(time.Hour), d.StatusPending, false},
		{"approved after end", d.StatusApproved, end.Add(time.Hour), d.StatusApproved, false},
		{"revoked after end", d.StatusRevoked, end.Add(time.Hour), d.StatusRevoked, false},
		{"already expired", d.StatusExpired, end.Add(time.Hour), d.StatusExpired, false},
		{"failed after end", d.StatusFailed, end.Add(time.Hour), d.StatusFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := d.Target{Status: tt.status, End: end}
			if got := tg.Expire(tt.now); got != tt.change {
				t.Errorf("Expire = %v, want %v", got, tt.change)
			}
			if tg.Status != tt.want {
				t.Errorf("status = %s, want %s", tg.Status, tt.want)
			}
			if tt.change && tg.Reason == "" {
				t.Error("expired without a reason")
			}
		})
	}
}

func TestTargetRevoke(t *testing.T) {
	tests := []struct {
		status    d.Status
		terminate bool
		change    bool
	}{
		{d.StatusPending, false, true},
		{d.StatusApproved, false, true},
		{d.StatusApplying, true, true},
		{d.StatusActive, true, true},
		{d.StatusActive, false, true},
		{d.StatusExpired, true, false},
		{d.StatusRevoked, true, false},
		{d.StatusDenied, false, false},
		{d.StatusFailed, false, false},
	}
	for _, tt := range tests {
		name := string(tt.status)
		if tt.terminate {
			name += " terminate"
		}
		t.Run(name, func(t *testing.T) {
			tg := d.Target{Status: tt.status, Reason: "before"}
			before := tg
			got := tg.Revoke("policy changed", tt.terminate)
			if got != tt.change {
				t.Fatalf("Revoke = %v, want %v", got, tt.change)
			}
			want := before
			if tt.change {
				want.Status, want.Reason, want.Terminate = d.StatusRevoked, "policy changed", tt.terminate
			}
			if diff := cmp.Diff(want, tg, equateNet); diff != "" {
				t.Errorf("target after Revoke (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTargetApplied(t *testing.T) {
	requested := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	now := requested.Add(1500 * time.Millisecond)
	tests := []struct {
		name    string
		status  d.Status
		version int64 // the target's
		acked   int64
		change  bool
	}{
		{"acked the same version", d.StatusApplying, 5, 5, true},
		{"acked a later version", d.StatusApplying, 5, 7, true},
		{"acked an earlier version", d.StatusApplying, 5, 4, false},
		{"already active", d.StatusActive, 5, 5, false},
		{"revoked meanwhile", d.StatusRevoked, 5, 5, false},
		{"pending", d.StatusPending, 5, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := d.Target{Status: tt.status, Version: tt.version, Reason: "waiting"}
			before := tg
			if got := tg.Applied(tt.acked, now, requested); got != tt.change {
				t.Fatalf("Applied = %v, want %v", got, tt.change)
			}
			want := before
			if tt.change {
				want.Status, want.Reason, want.AppliedAt, want.ApplyLatency = d.StatusActive, "", now, dur(1500*time.Millisecond)
			}
			if diff := cmp.Diff(want, tg, equateNet); diff != "" {
				t.Errorf("target after Applied (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTargetFail(t *testing.T) {
	for _, s := range []d.Status{d.StatusPending, d.StatusApproved, d.StatusApplying, d.StatusActive, d.StatusRevoked} {
		t.Run(string(s), func(t *testing.T) {
			tg := d.Target{Status: s}
			change := tg.Fail("nft: permission denied")
			if want := s == d.StatusApplying; change != want {
				t.Fatalf("Fail = %v, want %v", change, want)
			}
			if change && (tg.Status != d.StatusFailed || tg.Reason != "nft: permission denied") {
				t.Errorf("after Fail: status %s reason %q", tg.Status, tg.Reason)
			}
			if !change && tg.Status != s {
				t.Errorf("status changed to %s without a change reported", tg.Status)
			}
		})
	}
}

func TestAggregateStatus(t *testing.T) {
	tests := []struct {
		name string
		in   []d.Status
		want d.Status
	}{
		{"single", []d.Status{d.StatusActive}, d.StatusActive},
		{"all agree", []d.Status{d.StatusExpired, d.StatusExpired}, d.StatusExpired},
		{"earliest open state wins", []d.Status{d.StatusActive, d.StatusApplying, d.StatusExpired}, d.StatusApplying},
		{"pending before everything", []d.Status{d.StatusActive, d.StatusPending}, d.StatusPending},
		{"open beats ended", []d.Status{d.StatusFailed, d.StatusActive}, d.StatusActive},
		{"failed most notable ending", []d.Status{d.StatusExpired, d.StatusFailed, d.StatusRevoked}, d.StatusFailed},
		{"revoked before expired", []d.Status{d.StatusExpired, d.StatusRevoked}, d.StatusRevoked},
		{"expired before denied", []d.Status{d.StatusDenied, d.StatusExpired}, d.StatusExpired},
		{"all denied", []d.Status{d.StatusDenied, d.StatusDenied}, d.StatusDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := make([]d.Target, len(tt.in))
			for i, s := range tt.in {
				ts[i].Status = s
			}
			if got := d.AggregateStatus(ts); got != tt.want {
				t.Errorf("AggregateStatus(%v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestPlanRequest(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	web := &d.Machine{ID: "mch_aaaaaaaaaaaaaaaaaaaa", Name: "web-1", Labels: map[string]string{"env": "dev"}}
	db := &d.Machine{ID: "mch_bbbbbbbbbbbbbbbbbbbb", Name: "db-1", Labels: map[string]string{"env": "prod"}}
	ssh := []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"10.0.0.0/8"}, MaxDuration: dur(2 * time.Hour)}}
	auto := &d.Policy{Enabled: true, Rules: ssh}
	manual := &d.Policy{Enabled: true, Rules: ssh, Approval: d.ApprovalRule{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 1}}, PendingTTL: dur(time.Hour), Extensions: d.ApprovalManual}}
	limited := &d.Policy{Enabled: true, Rules: ssh, Limits: d.Limits{MaxActivePerUser: 2}}
	wide := &d.Policy{Enabled: true, Rules: []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(time.Hour)}}, Limits: d.Limits{DenyAnySource: true}}
	ticket := &d.Policy{Enabled: true, Rules: ssh, Justification: d.JustificationRule{Mode: d.JustificationRequired}}
	requester := d.Actor{Kind: d.ActorToken, ID: "tok_req000000", Name: "req", Source: netip.MustParseAddr("10.1.2.3"),
		RoleGrants: []d.RoleGrant{{Role: d.RoleRequester, Actions: d.RoleRequester.Actions(), Scope: d.ScopeAll}}}
	devOnly := requester
	devOnly.RoleGrants = []d.RoleGrant{{Role: d.RoleRequester, Actions: d.RoleRequester.Actions(), Scope: "selector:env=dev"}}
	noSource := requester
	noSource.Source = netip.Addr{}
	cfg := d.PlanConfig{ServerCap: 24 * time.Hour, DefaultDuration: time.Hour}
	on := func(m *d.Machine, ports ...uint16) d.MachineTargets {
		mt := d.MachineTargets{Machine: m.Name}
		for _, p := range ports {
			mt.Ports = append(mt.Ports, d.PortTarget{Port: p})
		}
		return mt
	}
	loaded := func(m *d.Machine, p *d.Policy) d.PlanMachine { return d.PlanMachine{Machine: m, Policy: p} }
	tests := []struct {
		name      string
		a         d.Actor
		in        d.RequestInput
		ms        []d.PlanMachine
		wantKind  d.Kind // empty: no error
		wantField string
		want      d.Plan // Status, Duration, Start, End, PendingUntil; Machines counted only
	}{
		{"automatic", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}}, []d.PlanMachine{loaded(web, auto)}, "", "",
			d.Plan{Status: d.StatusApplying, Duration: dur(time.Hour), Start: now, End: now.Add(time.Hour), Approval: d.ApprovalRule{Mode: d.ApprovalAuto, Extensions: d.ApprovalAuto}}},
		{"duration capped by the rule", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}, Duration: "90m"}, []d.PlanMachine{loaded(web, auto)}, "", "",
			d.Plan{Status: d.StatusApplying, Duration: dur(90 * time.Minute), Start: now, End: now.Add(90 * time.Minute), Approval: d.ApprovalRule{Mode: d.ApprovalAuto, Extensions: d.ApprovalAuto}}},
		{"manual on any machine makes it pending", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22), on(db, 22)}}, []d.PlanMachine{loaded(web, auto), loaded(db, manual)}, "", "",
			d.Plan{Status: d.StatusPending, Duration: dur(time.Hour), PendingUntil: now.Add(time.Hour), Approval: d.CombineApproval([]d.ApprovalRule{auto.Approval, manual.Approval})}},
		{"no targets", requester, d.RequestInput{}, nil, d.Invalid, "targets", d.Plan{}},
		{"may not ask anywhere", d.Actor{Kind: d.ActorToken, ID: "tok_read00000", RoleGrants: []d.RoleGrant{{Role: d.RoleReader, Actions: d.RoleReader.Actions(), Scope: d.ScopeAll}}},
			d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}}, []d.PlanMachine{loaded(web, auto)}, d.Forbidden, "", d.Plan{}},
		{"no ports", requester, d.RequestInput{Targets: []d.MachineTargets{on(web)}}, []d.PlanMachine{loaded(web, auto)}, d.Invalid, "targets[0].ports", d.Plan{}},
		{"unknown machine, in input order", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22), {Machine: "gone", Ports: []d.PortTarget{{Port: 22}}}}},
			[]d.PlanMachine{loaded(web, auto), {Err: d.Errorf(d.NotFound, "machine gone not found")}}, d.NotFound, "targets[1].machine", d.Plan{}},
		{"lookup names its field", requester, d.RequestInput{Targets: []d.MachineTargets{{Machine: "", Ports: []d.PortTarget{{Port: 22}}}}},
			[]d.PlanMachine{{Err: d.FieldErrorf("machine", "machine is required")}}, d.Invalid, "targets[0].machine", d.Plan{}},
		{"out of scope reads as unknown", devOnly, d.RequestInput{Targets: []d.MachineTargets{on(db, 22)}}, []d.PlanMachine{loaded(db, auto)}, d.NotFound, "targets[0].machine", d.Plan{}},
		{"listed twice", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22), on(web, 22)}}, []d.PlanMachine{loaded(web, auto), loaded(web, auto)}, d.Invalid, "targets[1].machine", d.Plan{}},
		{"port listed twice", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22, 22)}}, []d.PlanMachine{loaded(web, auto)}, d.Invalid, "targets[0].ports[1].port", d.Plan{}},
		{"no policy", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}}, []d.PlanMachine{loaded(web, nil)}, d.Conflict, "targets[0].machine", d.Plan{}},
		{"port not in policy", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 80)}}, []d.PlanMachine{loaded(web, auto)}, d.Invalid, "targets[0].ports[0].port", d.Plan{}},
		{"source outside", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}, Source: "192.0.2.1"}, []d.PlanMachine{loaded(web, auto)}, d.Invalid, "targets[0].ports[0].source", d.Plan{}},
		{"no source known", noSource, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}}, []d.PlanMachine{loaded(web, auto)}, d.Invalid, "targets[0].ports[0].source", d.Plan{}},
		{"wide source refused", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}, Source: "10.0.0.0/8"}, []d.PlanMachine{loaded(web, wide)}, d.Invalid, "targets[0].ports[0].source", d.Plan{}},
		{"over the rule's maximum", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}, Duration: "3h"}, []d.PlanMachine{loaded(web, auto)}, d.Invalid, "duration", d.Plan{}},
		{"over the server cap", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}, Duration: "25h"}, []d.PlanMachine{loaded(web, auto)}, d.Invalid, "duration", d.Plan{}},
		{"justification required", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}}, []d.PlanMachine{loaded(web, ticket)}, d.Invalid, "justification", d.Plan{}},
		{"open grants at the limit", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}}, []d.PlanMachine{{Machine: web, Policy: limited, Open: 2}}, d.Conflict, "targets[0].machine", d.Plan{}},
		{"open grants under the limit", requester, d.RequestInput{Targets: []d.MachineTargets{on(web, 22)}}, []d.PlanMachine{{Machine: web, Policy: limited, Open: 1}}, "", "",
			d.Plan{Status: d.StatusApplying, Duration: dur(time.Hour), Start: now, End: now.Add(time.Hour), Approval: d.ApprovalRule{Mode: d.ApprovalAuto, Extensions: d.ApprovalAuto}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.PlanRequest(tt.a, tt.in, tt.ms, cfg, now)
			if tt.wantKind != "" {
				if err == nil {
					t.Fatalf("PlanRequest = %+v, want a %s error", got, tt.wantKind)
				}
				checkError(t, err, tt.wantKind, tt.wantField)
				return
			}
			if err != nil {
				t.Fatalf("PlanRequest error: %v", err)
			}
			if len(got.Machines) != len(tt.in.Targets) {
				t.Errorf("PlanRequest planned %d machines, want %d", len(got.Machines), len(tt.in.Targets))
			}
			got.Machines = nil
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("PlanRequest mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusSets(t *testing.T) {
	all := []d.Status{d.StatusPending, d.StatusApproved, d.StatusApplying, d.StatusActive, d.StatusExpired, d.StatusRevoked, d.StatusDenied, d.StatusFailed}
	for _, s := range all {
		waiting, granted := slices.Contains(d.WaitingStatuses, s), slices.Contains(d.GrantedStatuses, s)
		if s.Open() != slices.Contains(d.OpenStatuses, s) {
			t.Errorf("%s: Open = %v, but in OpenStatuses = %v", s, s.Open(), !s.Open())
		}
		if s.Granted() != granted {
			t.Errorf("%s: Granted = %v, but in GrantedStatuses = %v", s, s.Granted(), granted)
		}
		if s.Open() != (waiting || granted) || (waiting && granted) {
			t.Errorf("%s: open %v, waiting %v, granted %v: want open = waiting or granted, never both", s, s.Open(), waiting, granted)
		}
	}
}

func TestTargetGranted(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status d.Status
		end    time.Time
		want   bool
	}{
		{"active before its end", d.StatusActive, now.Add(time.Second), true},
		{"applying before its end", d.StatusApplying, now.Add(time.Second), true},
		{"active at its end", d.StatusActive, now, false},
		{"pending", d.StatusPending, now.Add(time.Hour), false},
		{"approved", d.StatusApproved, now.Add(time.Hour), false},
		{"revoked", d.StatusRevoked, now.Add(time.Hour), false},
	}
	for _, tt := range tests {
		tg := d.Target{Status: tt.status, End: tt.end}
		if got := tg.Granted(now); got != tt.want {
			t.Errorf("%s: Granted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// PlanRequest refuses more than MaxTargets ports before it reads past
// MaxTargets+1 loaded machines, so the caller loads no more than that.
func TestPlanRequestReadsAtMostMaxTargetsPlusOne(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	p := &d.Policy{Enabled: true, Rules: []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(time.Hour)}}}
	a := d.Actor{Kind: d.ActorToken, ID: "tok_req000000", Source: netip.MustParseAddr("10.1.2.3"),
		RoleGrants: []d.RoleGrant{{Role: d.RoleRequester, Actions: d.RoleRequester.Actions(), Scope: d.ScopeAll}}}
	var in d.RequestInput
	var ms []d.PlanMachine
	for i := range d.MaxTargets + 50 {
		m := &d.Machine{ID: d.MachineID(fmt.Sprintf("mch_%020d", i)), Name: fmt.Sprintf("m%d", i)}
		in.Targets = append(in.Targets, d.MachineTargets{Machine: m.Name, Ports: []d.PortTarget{{Port: 22}}})
		if i <= d.MaxTargets {
			ms = append(ms, d.PlanMachine{Machine: m, Policy: p})
		}
	}
	_, err := d.PlanRequest(a, in, ms, d.PlanConfig{ServerCap: 24 * time.Hour, DefaultDuration: time.Hour}, now)
	checkError(t, err, d.Invalid, "targets")
}
