package netlab

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/drawbridge/drawbridge/internal/testtier"
)

// Tmpfs mounts a fresh tmpfs of size bytes on a new directory under
// t.TempDir() and returns the directory; t.Cleanup unmounts it. Tests of a
// full disk fill it. It needs root (tier "tmpfs"): without, it skips, or
// fails when DRAWBRIDGE_TEST_REQUIRE lists tmpfs.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	testtier.Require(t, testtier.Tmpfs)
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		testtier.Missing(t, testtier.Tmpfs, fmt.Sprintf("cannot mount a tmpfs on %s: %v", dir, err))
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
