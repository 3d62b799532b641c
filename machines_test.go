package drawbridge_test

import (
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

func TestMachineStatus(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	const offlineAfter = 2 * time.Minute
	linux := d.Inventory{OS: "linux", Firewall: "nftables"}
	enabled := &d.Policy{Enabled: true}
	tests := []struct {
		name       string
		m          d.Machine
		p          *d.Policy
		want       d.MachineStatus
		wantReason string // a substring of the reason; empty: no reason
	}{
		{"never seen", d.Machine{Inventory: linux}, enabled, d.Unsupported, "never connected"},
		{"offline", d.Machine{Inventory: linux, LastSeen: now.Add(-offlineAfter - time.Second)}, enabled, d.Unsupported, "offline since 2025-06-01T11:57:59Z"},
		{"seen just within the window", d.Machine{Inventory: linux, LastSeen: now.Add(-offlineAfter)}, enabled, d.Configured, ""},
		{"firewall error", d.Machine{Inventory: d.Inventory{OS: "linux", FirewallError: "kernel lacks nf_tables"}, LastSeen: now}, enabled, d.Unsupported, "kernel lacks nf_tables"},
		{"firewall error beats offline", d.Machine{Inventory: d.Inventory{OS: "linux", FirewallError: "no CAP_NET_ADMIN"}}, nil, d.Unsupported, "no CAP_NET_ADMIN"},
		{"non-linux", d.Machine{Inventory: d.Inventory{OS: "windows"}, LastSeen: now}, enabled, d.Unsupported, "windows"},
		{"os not reported yet", d.Machine{LastSeen: now}, enabled, d.Configured, ""},
		{"configured", d.Machine{Inventory: linux, LastSeen: now}, enabled, d.Configured, ""},
		{"no policy", d.Machine{Inventory: linux, LastSeen: now}, nil, d.NotConfigured, ""},
		{"disabled policy", d.Machine{Inventory: linux, LastSeen: now}, &d.Policy{Enabled: false}, d.NotConfigured, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := tt.m.Status(tt.p, now, offlineAfter)
			if got != tt.want {
				t.Errorf("Status = %s (%q), want %s", got, reason, tt.want)
			}
			if tt.wantReason == "" && reason != "" {
				t.Errorf("reason = %q, want none", reason)
			}
			if !strings.Contains(reason, tt.wantReason) {
				t.Errorf("reason = %q, want it to mention %q", reason, tt.wantReason)
			}
		})
	}
}

func TestMachineOnline(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		lastSeen time.Time
		want     bool
	}{
		{"never seen", time.Time{}, false},
		{"just now", now, true},
		{"at the window", now.Add(-time.Minute), true},
		{"past the window", now.Add(-time.Minute - time.Nanosecond), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := d.Machine{LastSeen: tt.lastSeen}
			if got := m.Online(now, time.Minute); got != tt.want {
				t.Errorf("Online = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidateMachineName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"simple", "web-1", false},
		{"fqdn", "web-1.example.com", false},
		{"underscore", "db_primary", false},
		{"single character", "a", false},
		{"digit first", "1host", false},
		{"longest", strings.Repeat("a", 63), false},
		{"prefix but not an id", "mch_short", false},
		{"empty", "", true},
		{"too long", strings.Repeat("a", 64), true},
		{"starts with dash", "-web", true},
		{"starts with dot", ".web", true},
		{"space", "web 1", true},
		{"slash", "web/1", true},
		{"trailing newline", "web\n", true},
		{"non-ascii", "wéb", true},
		{"looks like a machine id", "mch_abcdefgh12345678", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.ValidateMachineName(tt.in)
			if !tt.wantErr {
				if err != nil {
					t.Errorf("ValidateMachineName(%q) error: %v", tt.in, err)
				}
				return
			}
			checkError(t, err, d.Invalid, "name")
		})
	}
}

func TestValidateLabels(t *testing.T) {
	many := make(map[string]string)
	for i := range 65 {
		many["k"+strings.Repeat("x", i)] = "v"
	}
	tests := []struct {
		name    string
		in      map[string]string
		wantErr bool
	}{
		{"nil", nil, false},
		{"simple", map[string]string{"env": "prod", "team": "infra"}, false},
		{"key with slash", map[string]string{"example.com/role": "db"}, false},
		{"empty value", map[string]string{"canary": ""}, false},
		{"longest key and value", map[string]string{strings.Repeat("k", 63): strings.Repeat("v", 63)}, false},
		{"empty key", map[string]string{"": "x"}, true},
		{"key starts with dash", map[string]string{"-env": "x"}, true},
		{"key too long", map[string]string{strings.Repeat("k", 64): "x"}, true},
		{"value too long", map[string]string{"env": strings.Repeat("v", 64)}, true},
		{"value with space", map[string]string{"env": "prod 1"}, true},
		{"value with slash", map[string]string{"env": "a/b"}, true},
		{"key with equals", map[string]string{"env=prod": "x"}, true},
		{"too many", many, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.ValidateLabels(tt.in)
			if !tt.wantErr {
				if err != nil {
					t.Errorf("ValidateLabels error: %v", err)
				}
				return
			}
			checkError(t, err, d.Invalid, "labels")
		})
	}
}

func TestMachineCheckSupported(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		m          d.Machine
		wantReason string // empty: supported
	}{
		{"linux with nftables", d.Machine{Name: "a", Inventory: d.Inventory{OS: "linux", Firewall: "nftables"}, LastSeen: now}, ""},
		{"offline is still supported", d.Machine{Name: "a", Inventory: d.Inventory{OS: "linux", Firewall: "nftables"}}, ""},
		{"os not reported yet", d.Machine{Name: "a"}, ""},
		{"no nftables", d.Machine{Name: "a", Inventory: d.Inventory{OS: "linux", FirewallError: "kernel lacks nf_tables"}}, "no usable nftables: kernel lacks nf_tables"},
		{"not linux", d.Machine{Name: "a", Inventory: d.Inventory{OS: "windows"}}, "use a gateway for windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.CheckSupported("request access")
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("CheckSupported = %v, want nil", err)
				}
				return
			}
			if d.ErrorKind(err) != d.Conflict || !strings.Contains(err.Error(), tt.wantReason) || !strings.Contains(err.Error(), "machine a is unsupported") {
				t.Errorf("CheckSupported = %v (%s), want a Conflict naming %q", err, d.ErrorKind(err), tt.wantReason)
			}
			// The machine list shows the same reason.
			if st, why := tt.m.Status(nil, now, time.Hour); st != d.Unsupported || !strings.Contains(err.Error(), why) {
				t.Errorf("Status = %s %q, not the reason of %v", st, why, err)
			}
		})
	}
}
