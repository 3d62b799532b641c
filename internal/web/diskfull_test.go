package web_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/netlab"
)

// fill writes zeros to a new file in dir until the file system is full,
// and returns the file's name.
func fill(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err = f.Write(buf); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
	}
	return name
}

// metric returns the value of a metric line "name value" on /metrics.
func (e *testEnv) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := e.hc.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestDiskFull: when the database's disk fills up, writes answer 503 with
// a clear message (not 500), /readyz fails, and revocations still commit in
// the room the released reserve leaves (issue 7, item 5). When space is
// freed, the reserve comes back and writes resume.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	dir := netlab.Tmpfs(t, 32<<20)
	e := newEnvIn(t, dir, 4<<20)
	web := e.enroll(t, "web")
	e.policy(t, "web", d.RuleInput{Port: 22})
	alice, _ := e.token(t, "alice", d.RoleRequester)
	open := e.activeRequest(t, alice, web, d.RequestInput{Targets: ports("web", 22), Source: "10.1.2.3"})
	if got := e.metric(t, "drawbridge_database_disk_full"); got != "0" {
		t.Errorf("drawbridge_database_disk_full = %q before, want 0", got)
	}

	filler := fill(t, dir)
	// SQLite reuses the room its files already have, so the disk shows as
	// full only when a write needs more: write until one fails.
	var refused response
	for i := 0; ; i++ {
		refused = e.call(t, "PUT", "/api/v1/machines/web/policy", e.admin, d.PolicyInput{Rules: []d.RuleInput{{Port: 22, MaxDuration: strings.Repeat("1", i%2+1) + "h"}}})
		if refused.status != http.StatusOK || i == 20000 {
			break
		}
	}
	msg := wantError(t, refused, http.StatusServiceUnavailable, d.Unavailable, "").Message
	if !strings.Contains(msg, "disk is full") {
		t.Errorf("message %q, want it to say the disk is full", msg)
	}
	if !strings.Contains(e.log.String(), "DATABASE DISK FULL") {
		t.Errorf("no loud log line about the full disk:\n%s", e.log.String())
	}

	// Other writes are refused up front, keeping the room for revocations.
	wantError(t, e.call(t, "POST", "/api/v1/requests", alice, d.RequestInput{Targets: ports("web", 22), Source: "10.1.2.4"}), http.StatusServiceUnavailable, d.Unavailable, "")
	msg = wantError(t, e.call(t, "GET", "/readyz", "", nil), http.StatusServiceUnavailable, d.Unavailable, "").Message
	if !strings.Contains(msg, "disk is full") {
		t.Errorf("/readyz says %q, want the disk is full", msg)
	}
	if got := e.metric(t, "drawbridge_database_disk_full"); got != "1" {
		t.Errorf("drawbridge_database_disk_full = %q, want 1", got)
	}
	if got := e.metric(t, "drawbridge_database_reserve_released_total"); got != "1" {
		t.Errorf("drawbridge_database_reserve_released_total = %q, want 1", got)
	}

	// Revocation still commits, and reaches the agent.
	var revoked d.Request
	decode(t, e.call(t, "POST", "/api/v1/requests/"+string(open.ID)+"/revoke", e.admin, d.RevokeInput{Reason: "disk full drill"}), http.StatusOK, &revoked)
	if revoked.Status != d.StatusRevoked {
		t.Errorf("after revoke: %s, want revoked", revoked.Status)
	}
	if gs := web.state(t).Grants; len(gs) != 0 {
		t.Errorf("the agent still has grants %+v", gs)
	}

	// Space freed: the reserve comes back (tried every few seconds) and
	// writes resume.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz to recover", func() bool { return e.call(t, "GET", "/readyz", "", nil).status == http.StatusOK })
	e.request(t, alice, d.RequestInput{Targets: ports("web", 22), Source: "10.1.2.4"})
	if got := e.metric(t, "drawbridge_database_disk_full"); got != "0" {
		t.Errorf("drawbridge_database_disk_full = %q after recovery, want 0", got)
	}
}
