//go:build !linux

package netlab

import "testing"

// Tmpfs mounts a tmpfs for a test; Linux only: elsewhere it skips, or fails
// when DRAWBRIDGE_TEST_REQUIRE lists tmpfs.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	if tierRequired("tmpfs") {
		t.Fatalf("tier tmpfs needs Linux (required by %s)", RequireEnv)
	}
	t.Skipf("tier tmpfs needs Linux (set %s=tmpfs to make this a failure)", RequireEnv)
	return ""
}
