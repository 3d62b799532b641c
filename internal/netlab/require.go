package netlab

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// RequireEnv names the environment variable that turns skips into failures.
// It holds a comma-separated list of tiers ("netns,postgres,browser"); CI sets
// it so that no privileged test is silently skipped.
const RequireEnv = "DRAWBRIDGE_TEST_REQUIRE"

// Require skips the test (or fails it, when the tier is listed in
// DRAWBRIDGE_TEST_REQUIRE) unless the prerequisites of a privileged test tier
// are present. Known tiers:
//
//   - "netns": root, the `ip` command and network namespace support;
//   - "postgres": PostgreSQL server binaries (initdb, postgres) and runuser;
//   - "browser": a chromium binary;
//   - "tmpfs": root, to mount a small tmpfs (see Tmpfs).
//
// Extra commands the test runs (for example "nft", "conntrack") can be listed
// in tools; they are looked up in PATH. The message names what is missing.
func Require(t testing.TB, tier string, tools ...string) {
	t.Helper()
	var missing []string
	switch tier {
	case "netns":
		if os.Geteuid() != 0 {
			missing = append(missing, "root (euid 0)")
		}
		if _, err := exec.LookPath("ip"); err != nil {
			missing = append(missing, "the ip command (iproute2)")
		}
		if _, err := os.Stat("/proc/self/ns/net"); err != nil {
			missing = append(missing, "network namespace support (/proc/self/ns/net)")
		}
	case "postgres":
		if postgresBin() == "" {
			missing = append(missing, "PostgreSQL server binaries (initdb in /usr/lib/postgresql/*/bin or PATH)")
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			missing = append(missing, "the runuser command")
		}
	case "tmpfs":
		if os.Geteuid() != 0 {
			missing = append(missing, "root (euid 0) to mount a tmpfs")
		}
	case "browser":
		if BrowserPath() == "" {
			missing = append(missing, "a chromium binary in PATH")
		}
	default:
		t.Fatalf("netlab.Require: unknown tier %q", tier)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, "the "+tool+" command")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "tier " + tier + " needs " + strings.Join(missing, ", ")
	if tierRequired(tier) {
		t.Fatalf("%s (required by %s)", msg, RequireEnv)
	}
	t.Skipf("%s (set %s=%s to make this a failure)", msg, RequireEnv, tier)
}

// tierRequired reports whether DRAWBRIDGE_TEST_REQUIRE lists tier.
func tierRequired(tier string) bool {
	list := strings.Split(os.Getenv(RequireEnv), ",")
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	return slices.Contains(list, tier)
}

// PostgresBinDir returns the directory holding initdb and postgres, or "" if
// none is found. It prefers the newest /usr/lib/postgresql/N/bin.
func PostgresBinDir() string { return postgresBin() }

func postgresBin() string {
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
