package drawbridge_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

func TestWeakenings(t *testing.T) {
	hour := d.Duration(time.Hour)
	base := func() *d.Policy {
		return &d.Policy{
			Enabled: true,
			Rules: []d.PortRule{
				{Port: 22, Protocol: d.TCP, AllowedSources: []string{"203.0.113.0/24"}, MaxDuration: hour, IdleTimeout: d.Duration(15 * time.Minute)},
				{Port: 5432, Protocol: d.TCP, AllowedSources: []string{"10.1.0.0/16"}, MaxDuration: hour},
			},
			Approval: d.ApprovalRule{Mode: d.ApprovalManual, PendingTTL: hour, Extensions: d.ApprovalManual, Levels: []d.ApprovalLevel{
				{Quorum: 2, Approvers: []string{"role:approver"}},
				{Quorum: 1, Approvers: []string{"group:security"}},
			}},
			Justification: d.JustificationRule{Mode: d.JustificationPattern, Pattern: "^INC-"},
			Limits:        d.Limits{MaxActivePerUser: 2, DenyAnySource: true},
		}
	}
	tests := []struct {
		name   string
		before *d.Policy
		change func(p *d.Policy) *d.Policy
		want   []string // fields
	}{
		{"no policy before", nil, func(p *d.Policy) *d.Policy { return p }, nil},
		{"unchanged", base(), func(p *d.Policy) *d.Policy { return p }, nil},
		{"stricter everywhere", base(), func(p *d.Policy) *d.Policy {
			p.Rules[0].AllowedSources = []string{"203.0.113.7/32"}
			p.Rules[0].MaxDuration = d.Duration(time.Minute)
			p.Rules[0].IdleTimeout = d.Duration(time.Minute)
			p.Rules = append(p.Rules, d.PortRule{Port: 443, Protocol: d.TCP, AllowedSources: []string{"10.1.2.0/24"}, MaxDuration: hour})
			p.Approval.Levels[0].Quorum = 3
			p.Approval.Levels[0].Approvers = nil
			p.Approval.Levels[0].Approvers = []string{"role:approver"}
			p.Limits.MaxActivePerUser = 1
			return p
		}, nil},
		{"removed", base(), func(*d.Policy) *d.Policy { return nil }, []string{"policy"}},
		{"disabled", base(), func(p *d.Policy) *d.Policy { p.Enabled = false; return p }, []string{"enabled"}},
		{"port replaced, same settings", base(), func(p *d.Policy) *d.Policy {
			p.Rules[0].Port = 2222
			return p
		}, []string{"rules"}},
		{"port replaced by one with the defaults", base(), func(p *d.Policy) *d.Policy {
			p.Rules[0] = d.PortRule{Port: 2222, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: d.Duration(3 * time.Hour)}
			return p
		}, []string{"rules", "rules[0].allowed_sources", "rules[0].max_duration"}},
		{"new port inside what other ports admitted", base(), func(p *d.Policy) *d.Policy {
			p.Rules = append(p.Rules, d.PortRule{Port: 8080, Protocol: d.TCP, AllowedSources: []string{"203.0.113.7/32", "10.1.2.0/24"}, MaxDuration: hour})
			return p
		}, nil},
		{"new port on a policy with no ports before", &d.Policy{}, func(p *d.Policy) *d.Policy {
			p.Rules = []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: hour}}
			return p
		}, nil},
		{"protocol narrowed from any", &d.Policy{Enabled: true, Rules: []d.PortRule{{Port: 53, Protocol: d.Any, AllowedSources: []string{"*"}, MaxDuration: hour}}},
			func(p *d.Policy) *d.Policy { p.Rules[0].Protocol = d.UDP; return p }, []string{"rules"}},
		{"wider sources", base(), func(p *d.Policy) *d.Policy {
			p.Rules[0].AllowedSources = []string{"203.0.113.0/24", "198.51.100.0/24"}
			return p
		}, []string{"rules[0].allowed_sources"}},
		{"any source", base(), func(p *d.Policy) *d.Policy {
			p.Rules[1].AllowedSources = []string{"*"}
			return p
		}, []string{"rules[1].allowed_sources"}},
		{"longer max", base(), func(p *d.Policy) *d.Policy { p.Rules[1].MaxDuration = d.Duration(3 * time.Hour); return p }, []string{"rules[1].max_duration"}},
		{"idle close off", base(), func(p *d.Policy) *d.Policy { p.Rules[0].IdleTimeout = 0; return p }, []string{"rules[0].idle_timeout"}},
		{"idle close later", base(), func(p *d.Policy) *d.Policy { p.Rules[0].IdleTimeout = hour; return p }, []string{"rules[0].idle_timeout"}},
		{"approval off", base(), func(p *d.Policy) *d.Policy { p.Approval = d.ApprovalRule{Mode: d.ApprovalAuto}; return p }, []string{"approval.mode"}},
		{"second level removed", base(), func(p *d.Policy) *d.Policy { p.Approval.Levels = p.Approval.Levels[:1]; return p }, []string{"approval.levels"}},
		{"smaller quorum", base(), func(p *d.Policy) *d.Policy { p.Approval.Levels[0].Quorum = 1; return p }, []string{"approval.levels[0].quorum"}},
		{"approver list dropped", base(), func(p *d.Policy) *d.Policy { p.Approval.Levels[1].Approvers = nil; return p }, []string{"approval.levels[1].approvers"}},
		{"approver added", base(), func(p *d.Policy) *d.Policy {
			p.Approval.Levels[0].Approvers = []string{"role:approver", "user:mallory"}
			return p
		}, []string{"approval.levels[0].approvers"}},
		{"extensions auto", base(), func(p *d.Policy) *d.Policy { p.Approval.Extensions = d.ApprovalAuto; return p }, []string{"approval.extensions"}},
		{"justification optional", base(), func(p *d.Policy) *d.Policy {
			p.Justification = d.JustificationRule{Mode: d.JustificationOptional}
			return p
		}, []string{"justification.mode"}},
		{"justification pattern to required", base(), func(p *d.Policy) *d.Policy {
			p.Justification = d.JustificationRule{Mode: d.JustificationRequired}
			return p
		}, []string{"justification.mode"}},
		{"any source allowed again", base(), func(p *d.Policy) *d.Policy { p.Limits.DenyAnySource = false; return p }, []string{"limits.deny_any_source"}},
		{"per-person limit removed", base(), func(p *d.Policy) *d.Policy { p.Limits.MaxActivePerUser = 0; return p }, []string{"limits.max_active_per_user"}},
		{"per-person limit raised", base(), func(p *d.Policy) *d.Policy { p.Limits.MaxActivePerUser = 5; return p }, []string{"limits.max_active_per_user"}},
		{"the reported policy set: manual lost, sources and max reset", base(), func(p *d.Policy) *d.Policy {
			p.Rules = []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: d.Duration(3 * time.Hour)}}
			p.Approval = d.ApprovalRule{Mode: d.ApprovalAuto}
			return p
		}, []string{"rules", "rules[0].allowed_sources", "rules[0].max_duration", "rules[0].idle_timeout", "approval.mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var after *d.Policy
			if tt.before != nil {
				c := *tt.before
				c.Rules = append([]d.PortRule(nil), tt.before.Rules...)
				c.Approval.Levels = append([]d.ApprovalLevel(nil), tt.before.Approval.Levels...)
				after = tt.change(&c)
			}
			ws := d.Weakenings(tt.before, after)
			var got []string
			for _, w := range ws {
				got = append(got, w.Field)
				if w.Message == "" {
					t.Errorf("%s: empty message", w.Field)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Weakenings fields (-want +got):\n%s\n%v", diff, ws)
			}
		})
	}
}
