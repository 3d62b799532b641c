package e2e

import (
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/pgtest"
)

// TestPostgresServer runs the server on PostgreSQL (the scale-out store)
// with a real agent: protect, grant, revoke, restart the server, verify the
// audit chain. The unix socket of the throwaway cluster is reachable from
// the server's namespace: network namespaces do not separate unix sockets.
func TestPostgresServer(t *testing.T) {
	w := newWorld(t)
	w.database = pgtest.DSN(t)
	w.startServer()
	w.enroll()
	w.protect()
	admin := w.api(w.c1, w.adminToken)
	r := w.grant(admin, "10m")
	w.mustOpen(w.c1, w.web.IPv4).Close()
	w.mustBlock(w.c2, w.web.IPv4)

	w.server.kill(15)
	w.startServer()
	got, err := w.api(w.c1, w.adminToken).Request(t.Context(), r.ID, 0)
	if err != nil || got.Status != d.StatusActive {
		t.Fatalf("after a server restart on PostgreSQL: %v %v", got.Status, err)
	}
	eventually(t, 40*time.Second, "agent reconnected", func() bool {
		m, err := w.api(w.c1, w.adminToken).Machine(t.Context(), "web")
		return err == nil && m.Online
	})
	if _, err := w.api(w.c1, w.adminToken).Revoke(t.Context(), r.ID, d.RevokeInput{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "revoked grant closed", func() bool { return w.blocked(w.c1, w.web.IPv4) })
	if out := w.mustCLI(w.c1, w.adminToken, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Fatalf("audit verify on PostgreSQL:\n%s", out)
	}
}
