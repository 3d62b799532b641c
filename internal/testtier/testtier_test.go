package testtier

import (
	"slices"
	"testing"
)

func TestRequired(t *testing.T) {
	t.Setenv(Env, " netns, postgres ,tmpfs")
	for tier, want := range map[Tier]bool{Netns: true, Postgres: true, Tmpfs: true, Browser: false} {
		if got := Required(tier); got != want {
			t.Errorf("Required(%s) = %v, want %v", tier, got, want)
		}
	}
}

func TestTools(t *testing.T) {
	got := Tools("go", "no-such-command-drawbridge")()
	if !slices.Equal(got, []string{"the no-such-command-drawbridge command"}) {
		t.Errorf("Tools = %q", got)
	}
}

// TestEveryTierHasACheck: Require knows every tier the package names.
func TestEveryTierHasACheck(t *testing.T) {
	for _, tier := range []Tier{Netns, Postgres, Tmpfs, Browser} {
		if tierChecks[tier] == nil {
			t.Errorf("tier %s has no check", tier)
		}
	}
}
