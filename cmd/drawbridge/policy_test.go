package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// policyServer runs `drawbridge server` in-process with machines already
// enrolled (written to its database), and returns the environment the CLI
// needs to reach it as the admin.
func policyServer(t *testing.T, machines ...string) map[string]string {
	t.Helper()
	dataDir := t.TempDir()
	db, err := store.Open(t.Context(), "", dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Tx(t.Context(), func(tx *store.Tx) error {
		for _, name := range machines {
			m := &d.Machine{ID: d.NewMachineID(), Name: name, EnrolledAt: time.Now(), LastSeen: time.Now(), Inventory: d.Inventory{OS: "linux"}}
			if err := tx.MachineCreate(m); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	addr := startServerIn(t, dataDir)
	token, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"DRAWBRIDGE_ADDR": addr, "DRAWBRIDGE_CACERT": filepath.Join(dataDir, "ca.pem"), "DRAWBRIDGE_TOKEN": strings.TrimSpace(string(token))}
}

// runOK runs a CLI command and fails the test unless it exits 0.
func runOK(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := cli(t, vars, nil, args...)
	if code != 0 {
		t.Fatalf("drawbridge %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout, stderr
}

func showPolicy(t *testing.T, vars map[string]string, machine string) d.Policy {
	t.Helper()
	out, _ := runOK(t, vars, "policy", "show", machine, "-o", "json")
	var p d.Policy
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("policy show -o json: %v\n%s", err, out)
	}
	return p
}

// TestPolicySetKeepsWhatIsNotGiven: a flag not given keeps its current
// value, and a weakening is applied with a WARNING.
func TestPolicySetKeepsWhatIsNotGiven(t *testing.T) {
	t.Parallel()
	vars := policyServer(t, "demo")
	runOK(t, vars, "policy", "set", "demo", "--port", "2222/tcp", "--allow-source", "203.0.113.0/24", "--max-duration", "2h",
		"--idle-timeout", "10m", "--approval", "manual", "--quorum", "2", "--approver", "role:approver", "--justification", "required", "--deny-any-source")

	steps := []struct {
		name string
		args []string
		want func(p *d.Policy) // what the step changes in the expected policy
		warn []string          // parts of the warning; none: no warning
	}{
		{"the reported command keeps manual approval and sources",
			[]string{"--port", "2222/tcp", "--max-duration", "1h", "--pending-ttl", "2h"},
			func(p *d.Policy) {
				p.Rules[0].MaxDuration = d.Duration(time.Hour)
				p.Approval.PendingTTL = d.Duration(2 * time.Hour)
			}, nil},
		{"quorum alone on a manual policy", []string{"--quorum", "3"},
			func(p *d.Policy) { p.Approval.Levels[0].Quorum = 3 }, nil},
		{"extensions alone keep manual approval", []string{"--extensions", "auto"},
			func(p *d.Policy) { p.Approval.Extensions = d.ApprovalAuto }, []string{"approval.extensions"}},
		{"a listed port keeps its settings, a new one starts from the defaults", []string{"--port", "2222/tcp", "--port", "2223/tcp", "--allow-source", "203.0.113.0/24"},
			func(p *d.Policy) {
				p.Rules = append(p.Rules, d.PortRule{Port: 2223, Protocol: d.TCP, AllowedSources: []string{"203.0.113.0/24"}, MaxDuration: d.Duration(3 * time.Hour)})
			}, []string{"rules[1].max_duration", "new port 2223/tcp allows longer access"}},
		{"a smaller quorum warns", []string{"--quorum", "1"},
			func(p *d.Policy) { p.Approval.Levels[0].Quorum = 1 }, []string{"WARNING: this change weakens the policy", "approval.levels[0].quorum"}},
		{"idle close off warns", []string{"--idle-timeout", "none"},
			func(p *d.Policy) { p.Rules[0].IdleTimeout = 0 }, []string{"rules[0].idle_timeout"}},
		{"dropping a port, wider sources and approval off warn",
			[]string{"--port", "2222/tcp", "--allow-source", "198.51.100.0/24", "--allow-source", "203.0.113.0/24", "--approval", "auto"},
			func(p *d.Policy) {
				p.Rules = p.Rules[:1]
				p.Rules[0].AllowedSources = []string{"198.51.100.0/24", "203.0.113.0/24"}
				p.Approval = d.ApprovalRule{Mode: d.ApprovalAuto}
			}, []string{"port 2223/tcp is no longer protected", "rules[0].allowed_sources", "approval.mode"}},
	}
	want := showPolicy(t, vars, "demo")
	if !want.Approval.Manual() || want.Approval.Levels[0].Quorum != 2 || !want.Limits.DenyAnySource {
		t.Fatalf("first policy set: %+v", want)
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			_, stderr := runOK(t, vars, append([]string{"policy", "set", "demo"}, st.args...)...)
			st.want(&want)
			got := showPolicy(t, vars, "demo")
			want.UpdatedAt = got.UpdatedAt
			if diffRules, diffSettings := !jsonEqual(t, got.Rules, want.Rules), !jsonEqual(t, got.Settings(), want.Settings()); diffRules || diffSettings {
				t.Errorf("policy = %+v\nwant %+v", got, want)
			}
			want = got
			if len(st.warn) == 0 && strings.Contains(stderr, "WARNING") {
				t.Errorf("unexpected warning:\n%s", stderr)
			}
			for _, part := range st.warn {
				if !strings.Contains(stderr, part) {
					t.Errorf("stderr lacks %q:\n%s", part, stderr)
				}
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// TestReadmePolicyExample runs the policy commands of the README's "Access
// control and approvals" section, as written and in order, against a server
// with the machine web-1 the section labels.
func TestReadmePolicyExample(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	i := strings.Index(section, "## Access control and approvals")
	if i < 0 {
		t.Fatal("README has no section \"Access control and approvals\"")
	}
	section = section[i:]
	start := strings.Index(section, "```sh\n")
	end := strings.Index(section[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatal("the section has no sh code block")
	}
	section = section[start+6 : start+6+end]
	var cmds [][]string
	var line strings.Builder
	for _, l := range strings.Split(section, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutSuffix(l, `\`); ok {
			line.WriteString(rest + " ")
			continue
		}
		line.WriteString(l)
		words := shellWords(t, line.String())
		line.Reset()
		if len(words) > 2 && words[0] == "drawbridge" && (words[1] == "policy" || words[1] == "label") {
			cmds = append(cmds, words[1:])
		}
	}
	if len(cmds) < 4 {
		t.Fatalf("found only %d policy commands in the section: %q", len(cmds), cmds)
	}
	vars := policyServer(t, "web-1")
	for _, args := range cmds {
		if args[0] == "policy" && args[1] == "delete" {
			runOK(t, vars, "policy", "set", args[2], "--port", "22") // what it deletes
		}
		stdout, stderr := runOK(t, vars, args...)
		if args[0] == "policy" && args[1] == "set" && slices.Contains(args, "--deny-any-source") &&
			(!strings.Contains(stdout, "approval: manual") || !strings.Contains(stdout, "no any-source access")) {
			t.Errorf("drawbridge %s printed:\n%s%s", strings.Join(args, " "), stdout, stderr)
		}
		if slices.Contains(args, "--quorum") && slices.Contains(args, "1") && !strings.Contains(stderr, "WARNING") {
			t.Errorf("drawbridge %s: no WARNING though the README says so:\n%s", strings.Join(args, " "), stderr)
		}
	}
}

// shellWords splits a command line as sh would for the quoting the README
// uses: single and double quotes, no expansions.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '#' && !in:
			quote = 0
			if cur.Len() > 0 {
				out = append(out, cur.String())
			}
			return out // a comment
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestPolicyDeleteMachine: `policy delete MACHINE` removes the machine's own
// policy (so a selector policy can govern it) and warns about the fallback.
func TestPolicyDeleteMachine(t *testing.T) {
	t.Parallel()
	vars := policyServer(t, "demo")
	runOK(t, vars, "label", "demo", "env=prod")
	runOK(t, vars, "policy", "set", "--selector", "env=prod", "--port", "22")
	runOK(t, vars, "policy", "set", "demo", "--port", "22", "--port", "2222", "--approval", "manual")
	stdout, stderr := runOK(t, vars, "policy", "delete", "demo")
	if !strings.Contains(stdout, "the policy for selector env=prod") {
		t.Errorf("stdout:\n%s", stdout)
	}
	for _, part := range []string{"WARNING", "port 2222/tcp is no longer protected", "approval.mode"} {
		if !strings.Contains(stderr, part) {
			t.Errorf("stderr lacks %q:\n%s", part, stderr)
		}
	}
	if p := showPolicy(t, vars, "demo"); p.Selector != "env=prod" {
		t.Errorf("demo governed by %+v, want the env=prod selector policy", p)
	}
	if code, _, stderr := cli(t, vars, nil, "policy", "delete", "demo"); code == 0 || !strings.Contains(stderr, "no policy of its own") {
		t.Errorf("second delete: exit %d, stderr %s", code, stderr)
	}
}

// TestPolicySetSelectorPriority: --priority lets two one-term selectors on
// different keys coexist, and a later policy set keeps it.
func TestPolicySetSelectorPriority(t *testing.T) {
	t.Parallel()
	vars := policyServer(t, "db1")
	runOK(t, vars, "label", "db1", "env=prod", "team=db")
	runOK(t, vars, "policy", "set", "--selector", "env=prod", "--port", "22")
	if code, _, stderr := cli(t, vars, nil, "policy", "set", "--selector", "team=db", "--port", "5432"); code == 0 || !strings.Contains(stderr, "priority") {
		t.Errorf("same priority: exit %d, stderr %s", code, stderr)
	}
	runOK(t, vars, "policy", "set", "--selector", "team=db", "--port", "5432", "--priority", "10")
	runOK(t, vars, "policy", "set", "--selector", "team=db", "--max-duration", "1h")
	p := showPolicy(t, vars, "db1")
	if p.Selector != "team=db" || p.Priority != 10 || p.Rules[0].Port != 5432 || p.Rules[0].MaxDuration != d.Duration(time.Hour) {
		t.Errorf("db1 governed by %+v, want team=db at priority 10, 5432 for 1h", p)
	}
	if code, _, stderr := cli(t, vars, nil, "policy", "set", "db1", "--port", "22", "--priority", "3"); code == 0 || !strings.Contains(stderr, "--priority needs --selector") {
		t.Errorf("--priority on a machine: exit %d, stderr %s", code, stderr)
	}
}
