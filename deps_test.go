package drawbridge_test

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The import edges of the module, after tailscale's tstest/deptest: the
// agent, the client and the firewall never reach database code, metrics or
// server packages (the agent binary stays lean and cannot touch the store),
// the firewall and pki are leaves, and the vocabulary at the root imports
// only the standard library. TestDeps checks them on every GOOS the binary
// ships for, since build-tagged files change the graph.

const module = "github.com/drawbridge/drawbridge"

// Forbidden packages, by path prefix (a prefix covers the packages below
// it), with the reason a violation reports.
var (
	// serverOnly is what the agent, the client and the firewall never reach.
	serverOnly = map[string]string{
		"modernc.org/sqlite":         "database driver",
		"github.com/jackc/pgx":       "database driver",
		"github.com/pressly/goose":   "database migrations",
		module + "/internal/store":   "database code",
		"github.com/prometheus":      "server metrics",
		module + "/internal/control": "server package",
		module + "/internal/web":     "server package",
		module + "/internal/notify":  "server package",
		module + "/internal/oidc":    "server package",
		module + "/internal/pgtest":  "test support",
		module + "/internal/netlab":  "test support",
	}
	// ownModule makes a leaf: it imports no other package of the module.
	ownModule = map[string]string{module: "a leaf imports no other package of the module"}
)

// depRule says that the packages Root reaches (its transitive imports, not
// its tests) must not include any of Bad; with StdlibOnly, they must all be
// in the standard library.
type depRule struct {
	Root       string
	Bad        map[string]string
	StdlibOnly bool
}

var depRules = []depRule{
	{Root: module, StdlibOnly: true},
	{Root: module + "/client", Bad: serverOnly},
	{Root: module + "/internal/agent", Bad: serverOnly},
	{Root: module + "/internal/firewall", Bad: merge(serverOnly, ownModule)},
	{Root: module + "/internal/pki", Bad: merge(serverOnly, ownModule)},
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// forbidden returns the reason dep is forbidden under bad, or "" if it is not.
// root itself is never forbidden (a leaf's own path is a prefix rule's match).
func forbidden(bad map[string]string, root, dep string) string {
	if dep == root {
		return ""
	}
	for prefix, why := range bad {
		if dep == prefix || strings.HasPrefix(dep, prefix+"/") {
			return why
		}
	}
	return ""
}

// listedPackage is what `go list -json` says of one package.
type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
}

// goList returns every package the patterns reach on goos, by import path.
func goList(t *testing.T, goos string, patterns ...string) map[string]listedPackage {
	t.Helper()
	args := append([]string{"list", "-deps", "-json=ImportPath,Standard,Imports,Deps"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS="+goos)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("GOOS=%s go %s: %v\n%s", goos, strings.Join(args, " "), err, stderr.String())
	}
	pkgs := map[string]listedPackage{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("GOOS=%s go list: %v", goos, err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// importChain returns the shortest import chain from root to dep, so a
// violation names the edge to cut.
func importChain(pkgs map[string]listedPackage, root, dep string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == dep {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, imp := range pkgs[p].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return []string{root, "…", dep}
}

func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list packages with")
	}
	var roots []string
	for _, r := range depRules {
		roots = append(roots, r.Root)
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			pkgs := goList(t, goos, roots...)
			for _, r := range depRules {
				root, ok := pkgs[r.Root]
				if !ok {
					t.Errorf("go list did not return %s", r.Root)
					continue
				}
				for _, dep := range root.Deps {
					why := forbidden(r.Bad, r.Root, dep)
					if r.StdlibOnly && !pkgs[dep].Standard {
						why = "the vocabulary imports only the standard library"
					}
					if why != "" {
						t.Errorf("%s must not reach %s (%s): %s", r.Root, dep, why, strings.Join(importChain(pkgs, r.Root, dep), " → "))
					}
				}
			}
		})
	}
}

// TestDepsRulesNameRealPackages guards the rules against a rename: every
// forbidden prefix must match a package of the module or of its
// dependencies, or the rule would pass for the wrong reason.
func TestDepsRulesNameRealPackages(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list packages with")
	}
	pkgs := goList(t, "linux", "./...")
	for prefix := range merge(serverOnly, ownModule) {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(pkgs)), func(p string) bool {
			return p == prefix || strings.HasPrefix(p, prefix+"/")
		}) {
			t.Errorf("forbidden prefix %q matches no package of the module or its dependencies: renamed?", prefix)
		}
	}
}
