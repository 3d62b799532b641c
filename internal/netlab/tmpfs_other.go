//go:build !linux

package netlab

import (
	"testing"

	"github.com/drawbridge/drawbridge/internal/testtier"
)

// Tmpfs mounts a tmpfs for a test; Linux only: elsewhere it skips, or fails
// when DRAWBRIDGE_TEST_REQUIRE lists tmpfs.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	testtier.Missing(t, testtier.Tmpfs, "needs Linux")
	return ""
}
