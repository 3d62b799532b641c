package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/oidc/oidctest"
	"github.com/drawbridge/drawbridge/internal/store"
)

// lockedBuffer is an io.Writer the server goroutine and the test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// oidcServer runs `drawbridge server` in-process with OIDC sign-in against
// iss, and returns its address and data directory.
func oidcServer(t *testing.T, iss *oidctest.Issuer) (addr, dataDir string) {
	t.Helper()
	return startServer(t, "--oidc-issuer", iss.URL, "--oidc-client-id", iss.ClientID, "--session-ttl", "1h")
}

// startServer runs `drawbridge server` in-process on a fresh data directory
// with extra flags, and returns its address and data directory.
func startServer(t *testing.T, extra ...string) (addr, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	return startServerIn(t, dataDir, extra...), dataDir
}

// startServerIn is startServer on dataDir, which may hold a database
// already; it stops the server when the test ends.
func startServerIn(t *testing.T, dataDir string, extra ...string) (addr string) {
	t.Helper()
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: logs, getenv: func(string) string { return "" }}
	go func() {
		done <- runEnv(ctx, e, append([]string{"server", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-level", "warn"}, extra...))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("server exited with %d:\n%s", code, logs)
		}
	})
	re := regexp.MustCompile(`listening on (https://\S+)`)
	deadline := time.Now().Add(2 * time.Minute) // generous: CI is a loaded 2-core machine
	for {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("server exited with %d:\n%s", code, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline for the start-up line
	}
}

// bindSubject gives subject role everywhere, in the server's database.
func bindSubject(t *testing.T, dataDir, subject string, role d.Role) {
	t.Helper()
	db, err := store.Open(t.Context(), "", dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Tx(t.Context(), func(tx *store.Tx) error {
		return tx.BindingCreate(&d.Binding{ID: d.BindingPrefix + d.RandomString(12), Subject: subject, Role: role, Scope: d.ScopeAll, CreatedAt: time.Now(), CreatedBy: "test"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// cli runs one client command in-process with environment vars and the
// fake browser, and returns its exit code, stdout and stderr.
func cli(t *testing.T, vars map[string]string, browser func(context.Context, string) error, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return vars[k] }, openBrowser: browser}
	code := runEnv(t.Context(), e, args)
	return code, stdout.String(), stderr.String()
}

func TestLogin(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, "drawbridge-cli")
	iss.SetUser(map[string]any{"sub": "a1", "email": "alice@example.com", "email_verified": true, "groups": []string{"ops"}})
	addr, dataDir := oidcServer(t, iss)
	bindSubject(t, dataDir, "group:ops", d.RoleRequester)

	tokenFile := filepath.Join(t.TempDir(), "config", "drawbridge", "token")
	vars := map[string]string{"DRAWBRIDGE_ADDR": addr, "DRAWBRIDGE_CACERT": filepath.Join(dataDir, "ca.pem"), "DRAWBRIDGE_TOKEN_FILE": tokenFile}

	// The fake browser follows the printed URL: the issuer signs in at once
	// and redirects to the command's loopback listener.
	var opened []string
	browser := func(ctx context.Context, u string) error {
		opened = append(opened, u)
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Signed in") {
			return fmt.Errorf("callback page: %d %s", resp.StatusCode, body)
		}
		return nil
	}

	code, out, errOut := cli(t, vars, browser, "login")
	if code != 0 {
		t.Fatalf("login exited %d: %s%s", code, out, errOut)
	}
	if len(opened) != 1 || !strings.HasPrefix(opened[0], iss.URL+"/authorize?") || !strings.Contains(errOut, opened[0]) {
		t.Errorf("opened %q; stderr:\n%s", opened, errOut)
	}
	if !strings.Contains(out, "signed in as alice@example.com (groups ops)") {
		t.Errorf("login printed:\n%s", out)
	}
	st, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}

	// Client commands find the saved session without --token.
	code, out, errOut = cli(t, vars, nil, "whoami")
	if code != 0 {
		t.Fatalf("whoami exited %d: %s", code, errOut)
	}
	for _, want := range []string{"alice@example.com (user:alice@example.com) from 127.0.0.1", "groups: ops", "grants: requester at *", "requests/initiate"} {
		if !strings.Contains(out, want) {
			t.Errorf("whoami output lacks %q:\n%s", want, out)
		}
	}

	// --no-browser only prints the URL; the device flow needs no browser.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	printed := &cancelOnWrite{w: &stderr, substr: iss.URL + "/authorize?", cancel: cancel} // nobody will sign in: stop once the URL is out
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: printed, getenv: func(k string) string { return vars[k] },
		openBrowser: func(context.Context, string) error { t.Error("--no-browser opened a browser"); return nil }}
	if code := runEnv(ctx, e, []string{"login", "--no-browser"}); code == 0 || !strings.Contains(stderr.String(), iss.URL+"/authorize?") {
		t.Errorf("login --no-browser: exit %d, stderr:\n%s", code, stderr.String())
	}
	code, out, errOut = cli(t, vars, nil, "login", "--device")
	if code != 0 || !strings.Contains(out, "signed in as alice@example.com") || !strings.Contains(errOut, "WDJB-MJHT") {
		t.Fatalf("login --device: exit %d\n%s%s", code, out, errOut)
	}

	// Logout revokes the session on the server and removes the file.
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = cli(t, vars, nil, "logout")
	if code != 0 || !strings.Contains(out, "signed out") {
		t.Fatalf("logout: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Errorf("token file still there after logout: %v", err)
	}
	vars["DRAWBRIDGE_TOKEN"] = strings.TrimSpace(string(tok))
	if code, _, errOut := cli(t, vars, nil, "whoami"); code == 0 || !strings.Contains(errOut, "invalid or expired token") {
		t.Errorf("whoami with the revoked session: exit %d, %s", code, errOut)
	}
	delete(vars, "DRAWBRIDGE_TOKEN")
	if code, _, errOut := cli(t, vars, nil, "whoami"); code == 0 || !strings.Contains(errOut, "drawbridge login") {
		t.Errorf("whoami with no token: exit %d, %s", code, errOut)
	}

	// A user with no binding is refused, and nothing is saved.
	iss.SetUser(map[string]any{"sub": "b1", "email": "bob@example.com", "email_verified": true})
	code, _, errOut = cli(t, vars, browser, "login")
	if code == 0 || !strings.Contains(errOut, "unknown user bob@example.com") {
		t.Errorf("login as an unknown user: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Errorf("a token was saved for an unknown user: %v", err)
	}
}

// cancelOnWrite cancels a context once substr has been written through it.
type cancelOnWrite struct {
	w      io.Writer
	substr string
	cancel context.CancelFunc
	seen   bytes.Buffer
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.seen.Write(p)
	if strings.Contains(c.seen.String(), c.substr) {
		c.cancel()
	}
	return c.w.Write(p)
}
