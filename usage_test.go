package drawbridge_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

func TestFormatBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0 B", 999: "999 B", 1000: "1.0 kB", 1500: "1.5 kB", 14_000_000: "14 MB",
		14_499_999: "14 MB", 9_950_000: "9.9 MB", 1_500_000_000: "1.5 GB", 1 << 62: "4612 PB",
	} {
		if got := d.FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestUsageSummary(t *testing.T) {
	last := time.Date(2025, 3, 1, 10, 42, 5, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		u    *d.Usage
		want string
	}{
		{"no report", nil, "used: unknown (the agent did not report counters)"},
		{"no packets", &d.Usage{}, "used: no"},
		{"used", &d.Usage{Packets: 10, Bytes: 14_000_000, LastUsedAt: last}, "used: yes, 14 MB, last packet 09:42:05 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.u.Summary(); got != tt.want {
				t.Errorf("Summary() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUsageMerge(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	sec := func(n int) d.Duration { return d.Duration(time.Duration(n) * time.Second) }
	type step struct {
		epoch string
		r     d.TargetUsage
		at    time.Time
	}
	tests := []struct {
		name  string
		steps []step
		want  d.Usage
	}{{
		name:  "first report of nothing",
		steps: []step{{"a", d.TargetUsage{}, now}},
		want:  d.Usage{ReportedAt: now, Epoch: "a"},
	}, {
		name: "same epoch: totals follow the latest, ages become times",
		steps: []step{
			{"a", d.TargetUsage{Packets: 10, Bytes: 1000, FirstSeenAgo: sec(30), LastSeenAgo: sec(5)}, now},
			{"a", d.TargetUsage{Packets: 15, Bytes: 1500, FirstSeenAgo: sec(40), LastSeenAgo: sec(1)}, now.Add(10 * time.Second)},
		},
		want: d.Usage{Packets: 15, Bytes: 1500, FirstUsedAt: now.Add(-30 * time.Second), LastUsedAt: now.Add(9 * time.Second),
			ReportedAt: now.Add(10 * time.Second), Epoch: "a", EpochPackets: 15, EpochBytes: 1500},
	}, {
		name: "repeated and stale reports change nothing",
		steps: []step{
			{"a", d.TargetUsage{Packets: 10, Bytes: 1000, FirstSeenAgo: sec(30), LastSeenAgo: sec(5)}, now},
			{"a", d.TargetUsage{Packets: 10, Bytes: 1000, FirstSeenAgo: sec(31), LastSeenAgo: sec(2)}, now.Add(time.Second)},
			{"a", d.TargetUsage{Packets: 4, Bytes: 400, FirstSeenAgo: sec(30), LastSeenAgo: sec(0)}, now.Add(2 * time.Second)},
		},
		want: d.Usage{Packets: 10, Bytes: 1000, FirstUsedAt: now.Add(-30 * time.Second), LastUsedAt: now.Add(-5 * time.Second),
			ReportedAt: now.Add(2 * time.Second), Epoch: "a", EpochPackets: 10, EpochBytes: 1000},
	}, {
		name: "a new epoch (agent restarted) adds up",
		steps: []step{
			{"a", d.TargetUsage{Packets: 10, Bytes: 1000, FirstSeenAgo: sec(30), LastSeenAgo: sec(5)}, now},
			{"b", d.TargetUsage{Packets: 2, Bytes: 200, FirstSeenAgo: sec(3), LastSeenAgo: sec(1)}, now.Add(20 * time.Second)},
			{"b", d.TargetUsage{Packets: 3, Bytes: 300, FirstSeenAgo: sec(4), LastSeenAgo: sec(0)}, now.Add(21 * time.Second)},
		},
		want: d.Usage{Packets: 13, Bytes: 1300, FirstUsedAt: now.Add(-30 * time.Second), LastUsedAt: now.Add(21 * time.Second),
			ReportedAt: now.Add(21 * time.Second), Epoch: "b", EpochPackets: 3, EpochBytes: 300},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u d.Usage
			for _, s := range tt.steps {
				u.Merge(s.epoch, s.r, s.at)
			}
			if diff := cmp.Diff(tt.want, u); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckUsageInput(t *testing.T) {
	tg := d.NewTargetID()
	tests := []struct {
		name  string
		in    d.UsageInput
		field string
	}{
		{"ok", d.UsageInput{Epoch: "e", Targets: []d.TargetUsage{{Target: tg, Packets: 1, FirstSeenAgo: 2, LastSeenAgo: 1}}}, ""},
		{"no epoch", d.UsageInput{}, "epoch"},
		{"epoch with a control character", d.UsageInput{Epoch: "e\x1b[2J"}, "epoch"},
		{"bad target", d.UsageInput{Epoch: "e", Targets: []d.TargetUsage{{Target: "req_x"}}}, "targets[0].target"},
		{"last before first", d.UsageInput{Epoch: "e", Targets: []d.TargetUsage{{Target: tg, FirstSeenAgo: 1, LastSeenAgo: 2}}}, "targets[0]"},
		{"negative", d.UsageInput{Epoch: "e", Targets: []d.TargetUsage{{Target: tg, FirstSeenAgo: -1, LastSeenAgo: -1}}}, "targets[0]"},
		{"too many", d.UsageInput{Epoch: "e", Targets: make([]d.TargetUsage, d.MaxUsageTargets+1)}, "targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.CheckUsageInput(tt.in)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkError(t, err, d.Invalid, tt.field)
		})
	}
}

func TestIdleTargets(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	m := d.MachineID("mch_a")
	p := &d.Policy{MachineID: m, Enabled: true, Rules: []d.PortRule{
		{Port: 22, Protocol: d.TCP, MaxDuration: d.Duration(time.Hour), IdleTimeout: d.Duration(15 * time.Minute)},
		{Port: 443, Protocol: d.TCP, MaxDuration: d.Duration(time.Hour)}, // no idle close
	}}
	target := func(port uint16, st d.Status, applied, last time.Time) d.Target {
		t := d.Target{MachineID: m, Port: port, Protocol: d.TCP, Status: st, AppliedAt: applied}
		if !last.IsZero() {
			t.Usage = &d.Usage{Packets: 1, LastUsedAt: last}
		}
		return t
	}
	ago := func(m int) time.Time { return now.Add(-time.Duration(m) * time.Minute) }
	ts := []d.Target{
		0: target(22, d.StatusActive, ago(20), time.Time{}),                                            // never used, open 20m: idle
		1: target(22, d.StatusActive, ago(10), time.Time{}),                                            // never used, open 10m
		2: target(22, d.StatusActive, ago(60), ago(14)),                                                // used 14m ago
		3: target(22, d.StatusActive, ago(60), ago(15)),                                                // used exactly 15m ago: idle
		4: target(443, d.StatusActive, ago(60), time.Time{}),                                           // rule without idle timeout
		5: target(22, d.StatusApplying, time.Time{}, time.Time{}),                                      // not open yet
		6: target(22, d.StatusExpired, ago(60), time.Time{}),                                           // over already
		7: {MachineID: "mch_b", Port: 22, Protocol: d.TCP, Status: d.StatusActive, AppliedAt: ago(60)}, // another machine
	}
	if got, want := d.IdleTargets(p, ts, now), []int{0, 3}; !cmp.Equal(got, want) {
		t.Errorf("IdleTargets = %v, want %v", got, want)
	}
	p.Enabled = false
	if got := d.IdleTargets(p, ts, now); got != nil {
		t.Errorf("disabled policy: IdleTargets = %v, want none", got)
	}
	if got := d.IdleTargets(nil, ts, now); got != nil {
		t.Errorf("no policy: IdleTargets = %v, want none", got)
	}
}

func TestNormalizeRulesIdleTimeout(t *testing.T) {
	rule := func(idle time.Duration) []d.PortRule {
		return []d.PortRule{{Port: 22, MaxDuration: d.Duration(time.Hour), IdleTimeout: d.Duration(idle)}}
	}
	for _, ok := range []time.Duration{0, time.Second, 15 * time.Minute, time.Hour} {
		if _, err := d.NormalizeRules(rule(ok), d.DefaultServerCap); err != nil {
			t.Errorf("idle timeout %s: %v", ok, err)
		}
	}
	for _, bad := range []time.Duration{time.Millisecond, time.Hour + time.Second} {
		_, err := d.NormalizeRules(rule(bad), d.DefaultServerCap)
		checkError(t, err, d.Invalid, "rules[0].idle_timeout")
	}
}
