// Package testtier owns Drawbridge's test tiers and DRAWBRIDGE_TEST_REQUIRE.
//
// Most tests need nothing but Go. A few need more of the machine; they
// belong to a tier and call Require (or Missing) first:
//
//   - "netns": root, the `ip` command and network namespace support
//     (internal/netlab labs, the firewall and end-to-end tests);
//   - "postgres": PostgreSQL server binaries and runuser (internal/pgtest);
//   - "tmpfs": root, to mount a small tmpfs (netlab.Tmpfs, disk-full tests);
//   - "browser": a chromium binary.
//
// When a prerequisite is missing the test is skipped with a message naming
// what is missing, unless the comma-separated list in DRAWBRIDGE_TEST_REQUIRE
// names its tier: then it fails. CI sets DRAWBRIDGE_TEST_REQUIRE so that no
// privileged test is silently skipped.
package testtier

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Env names the environment variable that turns skips into failures.
const Env = "DRAWBRIDGE_TEST_REQUIRE"

// Tier names a test tier.
type Tier string

// The tiers.
const (
	Netns    Tier = "netns"
	Postgres Tier = "postgres"
	Tmpfs    Tier = "tmpfs"
	Browser  Tier = "browser"
)

// A Check returns the prerequisites that are missing, in words ("the nft
// command"); none when all are present.
type Check func() []string

// Require skips t (or fails it, when DRAWBRIDGE_TEST_REQUIRE lists tier)
// unless the tier's own prerequisites and those of checks are present. The
// message names everything that is missing.
func Require(t testing.TB, tier Tier, checks ...Check) {
	t.Helper()
	own, ok := tierChecks[tier]
	if !ok {
		t.Fatalf("testtier.Require: unknown tier %q", tier)
	}
	var missing []string
	for _, c := range append([]Check{own}, checks...) {
		missing = append(missing, c()...)
	}
	if len(missing) > 0 {
		Missing(t, tier, "needs "+strings.Join(missing, ", "))
	}
}

// Missing skips t, or fails it when DRAWBRIDGE_TEST_REQUIRE lists tier,
// saying why the tier cannot run here.
func Missing(t testing.TB, tier Tier, why string) {
	t.Helper()
	msg := "tier " + string(tier) + " " + why
	if Required(tier) {
		t.Fatalf("%s (required by %s)", msg, Env)
	}
	t.Skipf("%s (set %s=%s to make this a failure)", msg, Env, tier)
}

// Required reports whether DRAWBRIDGE_TEST_REQUIRE lists tier.
func Required(tier Tier) bool {
	list := strings.Split(os.Getenv(Env), ",")
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	return slices.Contains(list, string(tier))
}

// Tools checks that each named command is in PATH.
func Tools(names ...string) Check {
	return func() []string {
		var missing []string
		for _, n := range names {
			if _, err := exec.LookPath(n); err != nil {
				missing = append(missing, "the "+n+" command")
			}
		}
		return missing
	}
}

var tierChecks = map[Tier]Check{
	Netns: func() []string {
		var missing []string
		if os.Geteuid() != 0 {
			missing = append(missing, "root (euid 0)")
		}
		if _, err := exec.LookPath("ip"); err != nil {
			missing = append(missing, "the ip command (iproute2)")
		}
		if _, err := os.Stat("/proc/self/ns/net"); err != nil {
			missing = append(missing, "network namespace support (/proc/self/ns/net)")
		}
		return missing
	},
	Postgres: func() []string {
		var missing []string
		if PostgresBinDir() == "" {
			missing = append(missing, "PostgreSQL server binaries (initdb in /usr/lib/postgresql/*/bin or PATH)")
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			missing = append(missing, "the runuser command")
		}
		return missing
	},
	Tmpfs: func() []string {
		if os.Geteuid() != 0 {
			return []string{"root (euid 0) to mount a tmpfs"}
		}
		return nil
	},
	Browser: func() []string {
		if BrowserPath() == "" {
			return []string{"a chromium binary in PATH"}
		}
		return nil
	},
}

// PostgresBinDir returns the directory holding initdb and postgres, or "" if
// none is found. It prefers the newest /usr/lib/postgresql/N/bin.
func PostgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.Reverse(dirs)
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// BrowserPath returns the path of a chromium binary, or "" if none is found.
func BrowserPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}
