package main

import (
	"io"
	"slices"
	"testing"

	"github.com/spf13/pflag"
)

// TestAgentHelpPlaceholders: pflag takes a `backquoted` word of a flag's
// usage as its value placeholder, which leaked a command into --help.
func TestAgentHelpPlaceholders(t *testing.T) {
	cmd := newAgentCmd(&env{stdout: io.Discard, stderr: io.Discard})
	types := []string{"", "string", "strings", "duration"}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if name, _ := pflag.UnquoteUsage(f); !slices.Contains(types, name) {
			t.Errorf("--%s shows the placeholder %q in --help", f.Name, name)
		}
	})
}
