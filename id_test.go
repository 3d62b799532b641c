package drawbridge_test

import (
	"strings"
	"testing"

	d "github.com/drawbridge/drawbridge"
)

func TestValidID(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		prefix string
		want   bool
	}{
		{"shortest", "mch_abcd1234", d.MachinePrefix, true},
		{"longest", "mch_" + strings.Repeat("a", 40), d.MachinePrefix, true},
		{"request", "req_0123456789abcdefghij", d.RequestPrefix, true},
		{"too short", "mch_abcd123", d.MachinePrefix, false},
		{"too long", "mch_" + strings.Repeat("a", 41), d.MachinePrefix, false},
		{"wrong prefix", "req_abcd1234", d.MachinePrefix, false},
		{"no prefix", "abcd1234abcd", d.MachinePrefix, false},
		{"upper case", "mch_ABCD1234", d.MachinePrefix, false},
		{"dash", "mch_abcd-1234", d.MachinePrefix, false},
		{"underscore in rest", "mch_abcd_1234", d.MachinePrefix, false},
		{"non-ascii", "mch_abcdé1234", d.MachinePrefix, false},
		{"empty", "", d.MachinePrefix, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.ValidID(tt.in, tt.prefix); got != tt.want {
				t.Errorf("ValidID(%q, %q) = %v, want %v", tt.in, tt.prefix, got, tt.want)
			}
		})
	}
}

func TestNewIDs(t *testing.T) {
	tests := []struct {
		name   string
		id     func() string
		prefix string
	}{
		{"machine", func() string { return string(d.NewMachineID()) }, d.MachinePrefix},
		{"request", func() string { return string(d.NewRequestID()) }, d.RequestPrefix},
		{"target", func() string { return string(d.NewTargetID()) }, d.TargetPrefix},
		{"token", func() string { return string(d.NewTokenID()) }, d.TokenPrefix},
		{"join token", func() string { return string(d.NewJoinTokenID()) }, d.JoinTokenPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tt.id(), tt.id()
			if !d.ValidID(a, tt.prefix) {
				t.Errorf("new ID %q is not valid for prefix %q", a, tt.prefix)
			}
			if a == b {
				t.Errorf("two new IDs are equal: %q", a)
			}
		})
	}
}

func TestRandomString(t *testing.T) {
	for _, n := range []int{0, 1, 8, 20, 40, 1000} {
		s := d.RandomString(n)
		if len(s) != n {
			t.Errorf("len(RandomString(%d)) = %d", n, len(s))
		}
		if i := strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }); i >= 0 {
			t.Errorf("RandomString(%d) = %q has %q outside [a-z0-9]", n, s, s[i])
		}
	}
	// Over many characters every symbol of the alphabet shows up.
	seen := map[rune]bool{}
	for _, r := range d.RandomString(10000) {
		seen[r] = true
	}
	if len(seen) != 36 {
		t.Errorf("RandomString(10000) used %d distinct characters, want 36", len(seen))
	}
}
