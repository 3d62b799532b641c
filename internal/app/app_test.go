package app_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drawbridge/drawbridge/internal/app"
)

// TestNewTwice: the first start creates the CA and the admin token (0600);
// a restart on the same data directory keeps the CA and creates no token.
func TestNewTwice(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	a, err := app.New(t.Context(), app.Config{DataDir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	pin, admin := a.CA.Pin(), a.AdminToken
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil || admin == "" || strings.TrimSpace(string(b)) != admin {
		t.Fatalf("admin.token = %q, %v; want the bootstrap token %q", b, err, admin)
	}
	if fi, err := os.Stat(filepath.Join(dir, "admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode: %v, %v", fi.Mode(), err)
	}

	a, err = app.New(t.Context(), app.Config{DataDir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.AdminToken != "" || a.CA.Pin() != pin {
		t.Errorf("restart: admin token %q, pin %s; want none and %s", a.AdminToken, a.CA.Pin(), pin)
	}
}
