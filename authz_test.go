package drawbridge_test

import (
	"testing"

	d "github.com/drawbridge/drawbridge"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"one term", "env=prod", "env=prod", true},
		{"sorted and trimmed", " team=db , env=prod", "env=prod,team=db", true},
		{"empty value allowed", "env=", "env=", true},
		{"empty", "", "", false},
		{"no equals", "env", "", false},
		{"duplicate key", "env=a,env=b", "", false},
		{"bad key", "=x", "", false},
		{"bad value", "env=a b", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := d.ParseSelector(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseSelector(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			}
			if tt.ok && sel.String() != tt.want {
				t.Errorf("String() = %q, want %q", sel.String(), tt.want)
			}
		})
	}
}

func TestSelectorMatchesAndOverlaps(t *testing.T) {
	prod, _ := d.ParseSelector("env=prod")
	prodDB, _ := d.ParseSelector("env=prod,team=db")
	dev, _ := d.ParseSelector("env=dev")
	team, _ := d.ParseSelector("team=db")
	labels := map[string]string{"env": "prod", "team": "db"}
	if !prod.Matches(labels) || !prodDB.Matches(labels) || dev.Matches(labels) {
		t.Error("Matches wrong for env=prod,team=db labels")
	}
	if !prod.Overlaps(team) || prod.Overlaps(dev) || !prodDB.Overlaps(prod) {
		t.Error("Overlaps wrong")
	}
}

func TestScopeMatches(t *testing.T) {
	m := &d.Machine{ID: "mch_aaaaaaaaaaaaaaaaaaaa", Labels: map[string]string{"env": "dev"}}
	tests := []struct {
		scope string
		want  bool
	}{
		{"*", true},
		{"machine:mch_aaaaaaaaaaaaaaaaaaaa", true},
		{"machine:mch_bbbbbbbbbbbbbbbbbbbb", false},
		{"env=dev", true},
		{"selector:env=prod", false},
	}
	for _, tt := range tests {
		sc, err := d.ParseScope(tt.scope)
		if err != nil {
			t.Fatalf("ParseScope(%q): %v", tt.scope, err)
		}
		if got := sc.Matches(m); got != tt.want {
			t.Errorf("%s.Matches = %v, want %v", sc, got, tt.want)
		}
		if sc != d.ScopeAll && sc.Matches(nil) {
			t.Errorf("%s covers actions on no machine; only * may", sc)
		}
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"*", "env=prod", "selector:a=b,c=d", "machine:mch_aaaaaaaaaaaaaaaaaaaa", "machine:x", "a=b,a=c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := d.ParseScope(s)
		if err != nil {
			return
		}
		again, err := d.ParseScope(string(sc))
		if err != nil || again != sc {
			t.Fatalf("canonical scope %q re-parses to %q, %v", sc, again, err)
		}
	})
}
