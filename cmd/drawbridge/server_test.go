package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServerFlagsReportEveryProblem: config names every bad flag at once.
func TestServerFlagsReportEveryProblem(t *testing.T) {
	var stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }}
	code := runEnv(t.Context(), e, []string{"server", "--data-dir", t.TempDir(), "--log-level", "loud", "--max-duration", "10s",
		"--trusted-proxy", "nope", "--listen", "nope", "--webhook-timeout", "1h", "--audit-retention", "1m", "--oidc-client-id", "x"})
	if code == 0 {
		t.Fatal("server started with bad flags")
	}
	for _, flag := range []string{"--log-level", "--max-duration", "--trusted-proxy", "--listen", "--webhook-timeout", "--audit-retention", "--oidc-client-id"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("the error does not name %s:\n%s", flag, stderr.String())
		}
	}
}

// TestServerDevRefusesDatabaseAndNonLoopback: --dev is SQLite on loopback.
func TestServerDevRefusesDatabaseAndNonLoopback(t *testing.T) {
	var stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }}
	code := runEnv(t.Context(), e, []string{"server", "--dev", "--database", "postgres://db/x", "--listen", "0.0.0.0:8443"})
	if code == 0 || !strings.Contains(stderr.String(), "drop --database") || !strings.Contains(stderr.String(), "loopback only") {
		t.Errorf("exit %d:\n%s", code, stderr.String())
	}
}

// TestServerDev: --dev prints the admin token and its temporary data
// directory, serves, and deletes the directory when it stops.
func TestServerDev(t *testing.T) {
	t.Parallel()
	errOut := newSignalWriter("Do not enroll real machines.")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: errOut, getenv: func(string) string { return "" }}
		done <- runEnv(ctx, e, []string{"server", "--dev", "--listen", "127.0.0.1:0", "--log-level", "warn"})
	}()
	select {
	case <-errOut.seen:
	case code := <-done:
		t.Fatalf("server --dev exited %d:\n%s", code, errOut)
	}
	m := regexp.MustCompile(`admin token: (tok_\S+)\nDEV MODE.* in (\S+),\n`).FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("no admin token and data directory in:\n%s", errOut)
	}
	if _, err := os.Stat(filepath.Join(m[2], "admin.token")); err != nil {
		t.Errorf("data directory: %v", err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("server --dev exited %d:\n%s", code, errOut)
	}
	if _, err := os.Stat(m[2]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("data directory %s left behind: %v", m[2], err)
	}
}
