package drawbridge_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

func dur(td time.Duration) d.Duration { return d.Duration(td) }

func TestNormalizeRules(t *testing.T) {
	tests := []struct {
		name      string
		in        []d.PortRule
		serverCap time.Duration
		want      []d.PortRule
	}{
		{
			name:      "defaults",
			in:        []d.PortRule{{Port: 22}},
			serverCap: d.DefaultServerCap,
			want:      []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)}},
		},
		{
			name:      "default max duration capped by the server",
			in:        []d.PortRule{{Port: 22}},
			serverCap: time.Hour,
			want:      []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(time.Hour)}},
		},
		{
			name:      "explicit values kept",
			in:        []d.PortRule{{Port: 53, Protocol: d.UDP, AllowedSources: []string{"10.0.0.0/8"}, MaxDuration: dur(time.Minute)}},
			serverCap: d.DefaultServerCap,
			want:      []d.PortRule{{Port: 53, Protocol: d.UDP, AllowedSources: []string{"10.0.0.0/8"}, MaxDuration: dur(time.Minute)}},
		},
		{
			name:      "max duration equal to the cap",
			in:        []d.PortRule{{Port: 22, MaxDuration: dur(d.DefaultServerCap)}},
			serverCap: d.DefaultServerCap,
			want:      []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(d.DefaultServerCap)}},
		},
		{
			name:      "max duration at the minimum",
			in:        []d.PortRule{{Port: 22, MaxDuration: dur(time.Second)}},
			serverCap: d.DefaultServerCap,
			want:      []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(time.Second)}},
		},
		{
			name: "sorted by port then protocol",
			in: []d.PortRule{
				{Port: 3389, Protocol: d.TCP},
				{Port: 53, Protocol: d.UDP},
				{Port: 53, Protocol: d.TCP},
				{Port: 22, Protocol: d.Any},
			},
			serverCap: d.DefaultServerCap,
			want: []d.PortRule{
				{Port: 22, Protocol: d.Any, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)},
				{Port: 53, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)},
				{Port: 53, Protocol: d.UDP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)},
				{Port: 3389, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)},
			},
		},
		{
			name: "sources canonical, deduplicated and sorted",
			in: []d.PortRule{{Port: 22, AllowedSources: []string{
				"198.51.100.7", "10.0.0.0/8", " 10.0.0.0/8", "198.51.100.7/32", "2001:db8::/32", "::ffff:192.0.2.0/120",
			}}},
			serverCap: d.DefaultServerCap,
			want: []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{
				"10.0.0.0/8", "192.0.2.0/24", "198.51.100.7/32", "2001:db8::/32",
			}, MaxDuration: dur(3 * time.Hour)}},
		},
		{
			name:      "star absorbs the other sources",
			in:        []d.PortRule{{Port: 22, AllowedSources: []string{"10.0.0.0/8", "*", "192.0.2.0/24"}}},
			serverCap: d.DefaultServerCap,
			want:      []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)}},
		},
		{
			name:      "empty source list means any",
			in:        []d.PortRule{{Port: 22, AllowedSources: []string{}}},
			serverCap: d.DefaultServerCap,
			want:      []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)}},
		},
		{
			name:      "highest port",
			in:        []d.PortRule{{Port: 65535, Protocol: d.Any}},
			serverCap: d.DefaultServerCap,
			want:      []d.PortRule{{Port: 65535, Protocol: d.Any, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.NormalizeRules(tt.in, tt.serverCap)
			if err != nil {
				t.Fatalf("NormalizeRules error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NormalizeRules mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNormalizeRulesDoesNotModifyInput(t *testing.T) {
	in := []d.PortRule{{Port: 80}, {Port: 22, AllowedSources: []string{"10.0.0.1", "10.0.0.0/8"}}}
	want := []d.PortRule{{Port: 80}, {Port: 22, AllowedSources: []string{"10.0.0.1", "10.0.0.0/8"}}}
	if _, err := d.NormalizeRules(in, d.DefaultServerCap); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("input changed (-want +got):\n%s", diff)
	}
}

func TestNormalizeRulesRejects(t *testing.T) {
	many := func(n int) []d.PortRule {
		rs := make([]d.PortRule, n)
		for i := range rs {
			rs[i] = d.PortRule{Port: uint16(i + 1)}
		}
		return rs
	}
	manySources := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		}
		return s
	}
	tests := []struct {
		name      string
		in        []d.PortRule
		serverCap time.Duration
		field     string
	}{
		{"no rules", nil, d.DefaultServerCap, "rules"},
		{"empty rules", []d.PortRule{}, d.DefaultServerCap, "rules"},
		{"too many rules", many(65), d.DefaultServerCap, "rules"},
		{"port zero", []d.PortRule{{Port: 22}, {Port: 0}}, d.DefaultServerCap, "rules[1].port"},
		{"unknown protocol", []d.PortRule{{Port: 22, Protocol: "icmp"}}, d.DefaultServerCap, "rules[0].protocol"},
		{"upper-case protocol", []d.PortRule{{Port: 22, Protocol: "TCP"}}, d.DefaultServerCap, "rules[0].protocol"},
		{"duplicate port", []d.PortRule{{Port: 22}, {Port: 22}}, d.DefaultServerCap, "rules[1].port"},
		{"default protocol overlaps tcp", []d.PortRule{{Port: 22, Protocol: d.TCP}, {Port: 22}}, d.DefaultServerCap, "rules[1].port"},
		{"tcp then any overlap", []d.PortRule{{Port: 22, Protocol: d.TCP}, {Port: 22, Protocol: d.Any}}, d.DefaultServerCap, "rules[1].port"},
		{"any then udp overlap", []d.PortRule{{Port: 80}, {Port: 53, Protocol: d.Any}, {Port: 53, Protocol: d.UDP}}, d.DefaultServerCap, "rules[2].port"},
		{"bad source", []d.PortRule{{Port: 22}, {Port: 80, AllowedSources: []string{"10.0.0.0/8", "nowhere"}}}, d.DefaultServerCap, "rules[1].allowed_sources"},
		{"source with host bits", []d.PortRule{{Port: 22, AllowedSources: []string{"10.0.0.1/8"}}}, d.DefaultServerCap, "rules[0].allowed_sources"},
		{"bad source after star", []d.PortRule{{Port: 22, AllowedSources: []string{"*", "nowhere"}}}, d.DefaultServerCap, "rules[0].allowed_sources"},
		{"empty source", []d.PortRule{{Port: 22, AllowedSources: []string{""}}}, d.DefaultServerCap, "rules[0].allowed_sources"},
		{"too many sources", []d.PortRule{{Port: 22, AllowedSources: manySources(257)}}, d.DefaultServerCap, "rules[0].allowed_sources"},
		{"max duration below the minimum", []d.PortRule{{Port: 22, MaxDuration: dur(time.Millisecond)}}, d.DefaultServerCap, "rules[0].max_duration"},
		{"negative max duration", []d.PortRule{{Port: 22, MaxDuration: dur(-time.Hour)}}, d.DefaultServerCap, "rules[0].max_duration"},
		{"max duration above the cap", []d.PortRule{{Port: 22}, {Port: 80, MaxDuration: dur(25 * time.Hour)}}, d.DefaultServerCap, "rules[1].max_duration"},
		{"max duration above a lower cap", []d.PortRule{{Port: 22, MaxDuration: dur(2 * time.Hour)}}, time.Hour, "rules[0].max_duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.NormalizeRules(tt.in, tt.serverCap)
			if err == nil {
				t.Fatalf("NormalizeRules = %+v, want an error", got)
			}
			checkError(t, err, d.Invalid, tt.field)
		})
	}
}

func TestNormalizeRulesLimits(t *testing.T) {
	rules := make([]d.PortRule, 64)
	for i := range rules {
		rules[i] = d.PortRule{Port: uint16(1000 - i)}
	}
	srcs := make([]string, 256)
	for i := range srcs {
		srcs[i] = fmt.Sprintf("10.0.0.%d", i)
	}
	rules[0].AllowedSources = srcs
	got, err := d.NormalizeRules(rules, d.DefaultServerCap)
	if err != nil {
		t.Fatalf("64 rules, 256 sources: %v", err)
	}
	if len(got) != 64 || got[0].Port != 1000-63 || got[63].Port != 1000 {
		t.Errorf("got %d rules from port %d to %d, want 64 from %d to 1000", len(got), got[0].Port, got[len(got)-1].Port, 1000-63)
	}
	if n := len(got[63].AllowedSources); n != 256 {
		t.Errorf("got %d sources, want 256", n)
	}
}

func TestDefaultRules(t *testing.T) {
	tests := []struct {
		name      string
		os        string
		serverCap time.Duration
		want      []d.PortRule
	}{
		{"linux", "linux", d.DefaultServerCap, []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)}}},
		{"unknown os", "", d.DefaultServerCap, []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)}}},
		{"windows", "windows", d.DefaultServerCap, []d.PortRule{{Port: 3389, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(3 * time.Hour)}}},
		{"lower cap", "linux", 30 * time.Minute, []d.PortRule{{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: dur(30 * time.Minute)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.DefaultRules(tt.os, tt.serverCap)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DefaultRules mismatch (-want +got):\n%s", diff)
			}
			// The defaults are themselves normal.
			norm, err := d.NormalizeRules(got, tt.serverCap)
			if err != nil {
				t.Fatalf("NormalizeRules(DefaultRules) error: %v", err)
			}
			if diff := cmp.Diff(got, norm); diff != "" {
				t.Errorf("DefaultRules not normal (-default +normalized):\n%s", diff)
			}
		})
	}
}

func TestPolicyRule(t *testing.T) {
	p := &d.Policy{Enabled: true, Rules: []d.PortRule{
		{Port: 22, Protocol: d.TCP},
		{Port: 53, Protocol: d.UDP},
		{Port: 5000, Protocol: d.Any},
	}}
	tests := []struct {
		name   string
		port   uint16
		proto  d.Protocol
		want   uint16
		wantOK bool
	}{
		{"exact", 22, d.TCP, 22, true},
		{"any protocol asked", 22, "", 22, true},
		{"protocol mismatch", 22, d.UDP, 0, false},
		{"any asked of a tcp rule", 22, d.Any, 0, false},
		{"any rule covers tcp", 5000, d.TCP, 5000, true},
		{"any rule covers any", 5000, d.Any, 5000, true},
		{"port not in policy", 80, d.TCP, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := p.Rule(tt.port, tt.proto)
			if ok != tt.wantOK || r.Port != tt.want {
				t.Errorf("Rule(%d, %q) = %d, %v; want %d, %v", tt.port, tt.proto, r.Port, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestPortRuleAllowsSource(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		src     string
		want    bool
	}{
		{"any admits ipv4", []string{"*"}, "198.51.100.7/32", true},
		{"any admits ipv6", []string{"*"}, "2001:db8::1/128", true},
		{"host inside cidr", []string{"10.0.0.0/8"}, "10.1.2.3/32", true},
		{"narrower cidr inside", []string{"10.0.0.0/8"}, "10.1.0.0/16", true},
		{"same cidr", []string{"10.0.0.0/8"}, "10.0.0.0/8", true},
		{"wider cidr outside", []string{"10.0.0.0/16"}, "10.0.0.0/8", false},
		{"host outside", []string{"10.0.0.0/8"}, "11.0.0.1/32", false},
		{"second entry matches", []string{"10.0.0.0/8", "192.0.2.0/24"}, "192.0.2.9/32", true},
		{"ipv6 inside", []string{"2001:db8::/32"}, "2001:db8::1/128", true},
		{"ipv4 source, ipv6 rule", []string{"::/0"}, "10.0.0.1/32", false},
		{"ipv6 source, ipv4 rule", []string{"0.0.0.0/0"}, "2001:db8::1/128", false},
		{"no sources", nil, "10.0.0.1/32", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := d.PortRule{Port: 22, Protocol: d.TCP, AllowedSources: tt.allowed}
			src := netip.MustParsePrefix(tt.src)
			if got := r.AllowsSource(src); got != tt.want {
				t.Errorf("AllowsSource(%v) with %v = %v, want %v", src, tt.allowed, got, tt.want)
			}
		})
	}
}

func TestProtectedPorts(t *testing.T) {
	rules := []d.PortRule{{Port: 22, Protocol: d.TCP}, {Port: 53, Protocol: d.Any}, {Port: 123, Protocol: d.UDP}}
	tests := []struct {
		name string
		p    *d.Policy
		want []d.PortProto
	}{
		{"nil policy", nil, nil},
		{"disabled", &d.Policy{Enabled: false, Rules: rules}, nil},
		{"enabled", &d.Policy{Enabled: true, Rules: rules}, []d.PortProto{
			{Port: 22, Protocol: d.TCP}, {Port: 53, Protocol: d.TCP}, {Port: 53, Protocol: d.UDP}, {Port: 123, Protocol: d.UDP},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.p.ProtectedPorts()); diff != "" {
				t.Errorf("ProtectedPorts mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzNormalizeRules(f *testing.F) {
	f.Add(uint16(22), "tcp", "*", int64(0), uint16(22), "any", "10.0.0.0/8", int64(time.Hour), int64(24*time.Hour))
	f.Add(uint16(53), "udp", "10.0.0.1", int64(time.Minute), uint16(53), "tcp", "2001:db8::/32", int64(0), int64(time.Hour))
	f.Add(uint16(0), "", "", int64(-1), uint16(65535), "*", "::ffff:10.0.0.0/104", int64(25*time.Hour), int64(24*time.Hour))
	f.Add(uint16(80), "TCP", "10.0.0.1/8", int64(time.Millisecond), uint16(443), "", "*", int64(time.Second), int64(0))
	f.Fuzz(func(t *testing.T, port1 uint16, proto1, srcs1 string, max1 int64, port2 uint16, proto2, srcs2 string, max2, serverCap int64) {
		// Sources come as comma-separated lists; "" is an empty list.
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			var out []string
			for len(s) > 0 {
				i := 0
				for i < len(s) && s[i] != ',' {
					i++
				}
				out = append(out, s[:i])
				if i == len(s) {
					break
				}
				s = s[i+1:]
			}
			return out
		}
		rules := []d.PortRule{
			{Port: port1, Protocol: d.Protocol(proto1), AllowedSources: split(srcs1), MaxDuration: d.Duration(max1)},
			{Port: port2, Protocol: d.Protocol(proto2), AllowedSources: split(srcs2), MaxDuration: d.Duration(max2)},
		}
		sc := time.Duration(serverCap)
		got, err := d.NormalizeRules(rules, sc)
		if err != nil {
			var e *d.Error
			if !errors.As(err, &e) || e.Kind != d.Invalid || e.Field == "" {
				t.Fatalf("NormalizeRules error %v (%T), want *Error of kind Invalid with a field", err, err)
			}
			return
		}
		if len(got) != len(rules) {
			t.Fatalf("NormalizeRules returned %d rules, want %d", len(got), len(rules))
		}
		for _, r := range got {
			if r.Port == 0 || !r.Protocol.Valid() || len(r.AllowedSources) == 0 ||
				r.MaxDuration.Std() < d.MinDuration || r.MaxDuration.Std() > sc {
				t.Fatalf("NormalizeRules returned an invalid rule %+v", r)
			}
		}
		again, err := d.NormalizeRules(got, sc)
		if err != nil {
			t.Fatalf("NormalizeRules(%+v) is not idempotent: %v", got, err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("NormalizeRules is not idempotent (-first +second):\n%s", diff)
		}
	})
}

func TestEffectivePolicyPrecedence(t *testing.T) {
	sel := func(s string, prio int) d.Policy {
		return d.Policy{ID: "pol_" + s, Selector: s, Priority: prio, Enabled: true}
	}
	m := &d.Machine{ID: "mch_1", Labels: map[string]string{"env": "prod", "team": "db"}}
	own := &d.Policy{MachineID: "mch_1"}
	tests := []struct {
		name      string
		own       *d.Policy
		selectors []d.Policy
		want      string // selector of the winner; "own" or "" for none
	}{
		{"none", nil, nil, ""},
		{"no match", nil, []d.Policy{sel("env=dev", 0)}, ""},
		{"own wins over any priority", own, []d.Policy{sel("env=prod", 1000)}, "own"},
		{"more terms at equal priority", nil, []d.Policy{sel("env=prod", 0), sel("env=prod,team=db", 0)}, "env=prod,team=db"},
		{"higher priority over more terms", nil, []d.Policy{sel("env=prod", 5), sel("env=prod,team=db", 0)}, "env=prod"},
		{"one-term selectors on different keys by priority", nil, []d.Policy{sel("env=prod", 1), sel("team=db", 2)}, "team=db"},
		{"negative priority loses", nil, []d.Policy{sel("env=prod", -1), sel("team=db", 0)}, "team=db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := d.EffectivePolicy(m, tt.own, tt.selectors)
			got := ""
			switch {
			case p == nil:
			case p.Selector == "":
				got = "own"
			default:
				got = p.Selector
			}
			if got != tt.want {
				t.Errorf("EffectivePolicy = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckSelectorConflict(t *testing.T) {
	others := []d.Policy{
		{ID: "pol_a", Selector: "env=prod", Priority: 0},
		{ID: "pol_b", Selector: "env=prod,team=db", Priority: 5},
	}
	tests := []struct {
		name     string
		selector string
		priority int
		selfID   string
		field    string // "" for no error
	}{
		{"different key, same priority, can overlap", "team=db", 0, "", "selector"},
		{"different key, other priority", "team=db", 1, "", ""},
		{"same key, other value: cannot overlap", "env=dev", 0, "", ""},
		{"two terms, same priority as a two-term policy", "env=prod,team=web", 5, "", ""}, // team=web and team=db never overlap
		{"two terms overlapping a two-term policy at its priority", "env=prod,region=eu", 5, "", "selector"},
		{"two terms overlapping a two-term policy at another priority", "env=prod,region=eu", 0, "", ""},
		{"itself", "env=prod", 0, "pol_a", ""},
		{"priority too high", "env=dev", d.MaxPriority + 1, "", "priority"},
		{"priority too low", "env=dev", d.MinPriority - 1, "", "priority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := d.ParseSelector(tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			err = d.CheckSelectorConflict(sel, tt.priority, others, tt.selfID)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("CheckSelectorConflict: %v", err)
				}
				return
			}
			if e := d.AsError(err); e == nil || e.Kind != d.Invalid || e.Field != tt.field {
				t.Fatalf("CheckSelectorConflict = %v, want Invalid on %s", err, tt.field)
			}
		})
	}
}

func TestUncovered(t *testing.T) {
	p := &d.Policy{Enabled: true, Rules: []d.PortRule{
		{Port: 22, Protocol: d.TCP, AllowedSources: []string{"10.0.0.0/8"}, MaxDuration: dur(time.Hour)},
		{Port: 53, Protocol: d.Any, AllowedSources: []string{"*"}, MaxDuration: dur(time.Hour)},
	}}
	target := func(port uint16, proto d.Protocol, src string, status d.Status) d.Target {
		return d.Target{Port: port, Protocol: proto, Source: netip.MustParsePrefix(src), Status: status}
	}
	ts := []d.Target{
		target(22, d.TCP, "10.1.2.3/32", d.StatusActive),     // covered
		target(22, d.TCP, "192.0.2.1/32", d.StatusApplying),  // source no longer allowed
		target(443, d.TCP, "10.1.2.3/32", d.StatusPending),   // port removed
		target(443, d.TCP, "10.1.2.3/32", d.StatusExpired),   // not open: left alone
		target(53, d.UDP, "2001:db8::1/128", d.StatusActive), // covered by an any rule
	}
	disabled := *p
	disabled.Enabled = false
	tests := []struct {
		name   string
		policy *d.Policy
		want   []d.UncoveredTarget
	}{
		{"changed policy", p, []d.UncoveredTarget{
			{Index: 1, Reason: "source 192.0.2.1/32 no longer allowed by the JIT policy"},
			{Index: 2, Reason: "port 443/tcp removed from the JIT policy"},
		}},
		{"disabled policy", &disabled, []d.UncoveredTarget{
			{Index: 0, Reason: "JIT policy disabled"}, {Index: 1, Reason: "JIT policy disabled"},
			{Index: 2, Reason: "JIT policy disabled"}, {Index: 4, Reason: "JIT policy disabled"},
		}},
		{"no policy left (deleted)", &d.Policy{}, []d.UncoveredTarget{
			{Index: 0, Reason: "JIT policy disabled"}, {Index: 1, Reason: "JIT policy disabled"},
			{Index: 2, Reason: "JIT policy disabled"}, {Index: 4, Reason: "JIT policy disabled"},
		}},
		{"nothing open", p, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ts
			if tt.want == nil {
				in = ts[3:4]
			}
			if diff := cmp.Diff(tt.want, d.Uncovered(tt.policy, in)); diff != "" {
				t.Errorf("Uncovered mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
