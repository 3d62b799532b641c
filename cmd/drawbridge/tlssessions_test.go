package main

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drawbridge/drawbridge/internal/pki"
)

// TestTLSSessionResumesAcrossRuns: a CLI run saves the server's session
// ticket in the user's cache directory and the next run resumes that
// session. The front the CLI talks to has the server's own TLS
// configuration (pki.Authority.TLSConfig, so the server issues tickets as
// configured) and records whether each handshake resumed; it passes the
// requests on to a real server. A corrupt file is no cache, not an error.
func TestTLSSessionResumesAcrossRuns(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	backend, err := url.Parse(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	proxy.Transport = s.hc.Transport

	ca, err := pki.LoadOrCreate(t.TempDir(), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var resumed []bool
	cfg := ca.TLSConfig()
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		mu.Lock()
		resumed = append(resumed, cs.DidResume)
		mu.Unlock()
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := &http.Server{Handler: proxy, TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0)}
	go front.ServeTLS(ln, "", "")
	t.Cleanup(func() { front.Close() })
	frontAddr := "https://" + ln.Addr().String()
	cacert := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(cacert, ca.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	cache := t.TempDir()
	vars := map[string]string{"DRAWBRIDGE_ADDR": frontAddr, "DRAWBRIDGE_CACERT": cacert, "DRAWBRIDGE_TOKEN": s.vars["DRAWBRIDGE_TOKEN"]}
	whoami := func() {
		t.Helper()
		var stderr strings.Builder
		e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(k string) string { return vars[k] },
			cacheDir: func() (string, error) { return cache, nil }}
		if code := runEnv(t.Context(), e, []string{"whoami"}); code != 0 {
			t.Fatalf("whoami exited %d: %s", code, stderr.String())
		}
	}
	last := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if len(resumed) == 0 {
			t.Fatal("no handshake recorded")
		}
		return resumed[len(resumed)-1]
	}
	file := filepath.Join(cache, "drawbridge", "tls-sessions")

	whoami()
	if last() {
		t.Fatal("the first run resumed a session it cannot have")
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("no session file after the first run: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("session file mode %v, want 0600", fi.Mode().Perm())
	}
	whoami()
	if !last() {
		t.Error("the second run did not resume the first run's session")
	}

	if err := os.WriteFile(file, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	whoami()
	if last() {
		t.Error("resumed from a corrupt session file")
	}
	whoami()
	if !last() {
		t.Error("the run after a corrupt file did not resume")
	}

	// A session for another address is not offered to this one.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(b), strings.TrimPrefix(frontAddr, "https://"), "127.0.0.1:1", 1)
	if other == string(b) {
		t.Fatalf("session file does not name the server address %s: %s", frontAddr, b)
	}
	if err := os.WriteFile(file, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	whoami()
	if last() {
		t.Error("resumed with a session saved for another address")
	}
}

// TestSessionFileNoCacheDir: without a cache directory there is no cache,
// and a cache that cannot be written does not fail the handshake's caller.
func TestSessionFileNoCacheDir(t *testing.T) {
	if newSessionFile(nil, "https://example:443") != nil {
		t.Error("a nil cacheDir gave a cache")
	}
	if newSessionFile(func() (string, error) { return "", os.ErrNotExist }, "https://example:443") != nil {
		t.Error("a failing cacheDir gave a cache")
	}
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newSessionFile(func() (string, error) { return blocked, nil }, "https://example:443") // a file where the directory should be
	c.Put("example:443", nil)
	if _, ok := c.Get("example:443"); ok {
		t.Error("Get found a session in an unusable cache")
	}
}
