package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
)

// commands returns every command of the tree under root, root included.
func commands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		out = append(out, commands(c)...)
	}
	return out
}

func testRoot() *cobra.Command {
	return newRoot(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }})
}

// TestEveryCommandHasAnExample: --help of every command shows how to use it.
func TestEveryCommandHasAnExample(t *testing.T) {
	for _, c := range commands(testRoot()) {
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		} else if !strings.Contains(c.Example, "drawbridge ") {
			t.Errorf("%q: Example does not show a command line: %q", c.CommandPath(), c.Example)
		}
	}
}

// TestUnknownSubcommand: a mistyped command exits non-zero and suggests
// the right one, at the top level and in every command group.
func TestUnknownSubcommand(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"tokn"}, "Did you mean this?"},
		{[]string{"nonsense"}, `unknown command "nonsense"`},
		{[]string{"token", "lst"}, `unknown command "lst" for "drawbridge token"; did you mean list?`},
		{[]string{"webhook", "delet"}, "did you mean delete?"},
		{[]string{"join-token", "frobnicate"}, `unknown command "frobnicate" for "drawbridge join-token"`},
		{[]string{"policy", "enabel", "web-1"}, "did you mean enable?"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }}
		if code := runEnv(t.Context(), e, tt.args); code == 0 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want non-zero and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
	// A bare group prints its help and succeeds.
	var stdout bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: io.Discard, getenv: func(string) string { return "" }}
	if code := runEnv(t.Context(), e, []string{"token"}); code != 0 {
		t.Errorf("drawbridge token: exit %d", code)
	}
}

// TestStartBanner: the server's first words give absolute paths and the
// next commands, even for a relative --data-dir.
func TestStartBanner(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	got := startBanner("[::]:8443", "127.0.0.1:8443", "sqlite", "data", "sha256:abc", true)
	ca, tok := filepath.Join(wd, "data", "ca.pem"), filepath.Join(wd, "data", "admin.token")
	for _, want := range []string{
		"listening on https://[::]:8443 (database: sqlite)",
		"first start",
		"CA certificate  " + ca + "   pin sha256:abc",
		"export DRAWBRIDGE_ADDR=https://127.0.0.1:8443 DRAWBRIDGE_CACERT=" + ca + " DRAWBRIDGE_TOKEN=$(cat " + tok + ")",
		"drawbridge join-token create",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("banner lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, " data/") {
		t.Errorf("banner has a relative path:\n%s", got)
	}
}

// TestJoinTokenCommandMatchesREADME: the agent command line join-token
// create prints uses the data directory the README and the systemd unit use.
func TestJoinTokenCommandMatchesREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const dir = "--data-dir " + agentDataDir
	if !strings.Contains(string(readme), dir) {
		t.Errorf("README does not show %q", dir)
	}
	var agent *cobra.Command
	for _, c := range testRoot().Commands() {
		if c.Name() == "agent" {
			agent = c
		}
	}
	if got := agent.Flags().Lookup("data-dir").DefValue; got != agentDataDir {
		t.Errorf("agent --data-dir default %q, want %q", got, agentDataDir)
	}
}

// TestTokenCreateHelpListsEveryRole: --role's help names every built-in role.
func TestTokenCreateHelpListsEveryRole(t *testing.T) {
	var stdout bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: io.Discard, getenv: func(string) string { return "" }}
	root := newRoot(e)
	root.SetOut(&stdout)
	root.SetArgs([]string{"token", "create", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Roles() {
		if !strings.Contains(stdout.String(), string(r)) {
			t.Errorf("token create --help does not name role %s:\n%s", r, stdout.String())
		}
	}
}
