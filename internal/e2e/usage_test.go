package e2e

import (
	"net"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

// usageWorld is a lab whose agent reads the kernel counters every 300ms.
func usageWorld(t *testing.T) *world {
	w := newWorld(t)
	w.agentExtraArgs = []string{"--usage-interval", "300ms"}
	w.startServer()
	w.enroll()
	return w
}

// target returns the request's only target as the server shows it now.
func (w *world) target(c *client.Client, id d.RequestID) d.Target {
	w.t.Helper()
	r, err := c.Request(w.t.Context(), id, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(r.Targets) != 1 {
		w.t.Fatalf("request %s has %d targets, want 1", id, len(r.Targets))
	}
	return r.Targets[0]
}

// event returns the newest event with action on target, if any.
func (w *world) event(c *client.Client, action, target string) (d.Event, bool) {
	w.t.Helper()
	evs, err := c.Events(w.t.Context(), 0, 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == action && evs[i].Target == target {
			return evs[i], true
		}
	}
	return d.Event{}, false
}

// talk sends n lines of size bytes over c and reads them back.
func talk(t *testing.T, c net.Conn, n, size int) {
	t.Helper()
	line := strings.Repeat("x", size-1) + "\n"
	buf := make([]byte, size)
	for range n {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		if _, err := readFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetDeadline(time.Time{})
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestUsage: real traffic through a grant shows on the request as packet
// and byte counts with the time of the last packet, new and established
// connections alike; a grant nobody used shows "used: no"; when the grants
// end, the audit records whether each was used. Traffic of a connection
// that outlives its grant is not counted.
func TestUsage(t *testing.T) {
	w := usageWorld(t)
	w.protect()
	admin := w.api(w.c1, w.adminToken)
	fromC2 := w.api(w.c2, w.adminToken)

	used := w.grant(admin, "1m")    // source: c1
	unused := w.grant(fromC2, "4s") // source: c2, no traffic at all
	start := time.Now()

	conn := w.mustOpen(w.c1, w.web.IPv4)
	talk(t, conn, 50, 1000) // 50 kB each way over the established connection
	var u *d.Usage
	eventually(t, 5*time.Second, "usage of the used grant reported", func() bool {
		u = w.target(admin, used.ID).Usage
		return u != nil && u.Bytes >= 50_000
	})
	if u.Packets < 50 || u.FirstUsedAt.IsZero() || u.LastUsedAt.Before(u.FirstUsedAt) {
		t.Errorf("usage %+v: want ≥ 50 packets, first and last seen", u)
	}
	if u.LastUsedAt.Before(start.Add(-time.Second)) || u.LastUsedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("last used at %s, want about now (%s)", u.LastUsedAt, time.Now())
	}
	out := w.mustCLI(w.c1, w.adminToken, "requests", string(used.ID))
	if !strings.Contains(out, "used: yes, ") || !strings.Contains(out, "last packet ") {
		t.Errorf("requests %s:\n%s\nwant \"used: yes, …, last packet …\"", used.ID, out)
	}

	// The unused grant is watched (the agent reports zeros) and says so.
	eventually(t, 5*time.Second, "unused grant reported", func() bool { return w.target(admin, unused.ID).Usage != nil })
	if u := w.target(admin, unused.ID).Usage; u.Packets != 0 || u.Bytes != 0 || !u.LastUsedAt.IsZero() {
		t.Errorf("unused grant counted traffic: %+v", u)
	}
	if out := w.mustCLI(w.c1, w.adminToken, "requests", string(unused.ID)); !strings.Contains(out, "used: no") {
		t.Errorf("requests %s:\n%s\nwant \"used: no\"", unused.ID, out)
	}

	// It expires unused; the audit says so.
	eventually(t, 10*time.Second, "unused grant expired and audited", func() bool {
		_, ok := w.event(admin, d.EvRequestExpired, string(unused.Targets[0].ID))
		return ok
	})
	if ev, _ := w.event(admin, d.EvRequestExpired, string(unused.Targets[0].ID)); !strings.Contains(ev.Reason, "used: no") || !strings.Contains(ev.Details, `"used":false`) {
		t.Errorf("expiry event of the unused grant: reason %q details %s; want used: no", ev.Reason, ev.Details)
	}

	// Revoke the used grant: the audit records its use; the established
	// connection survives, and what it carries afterwards is not counted.
	if _, err := admin.Revoke(t.Context(), used.ID, d.RevokeInput{Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	ev, ok := w.event(admin, d.EvRequestRevoked, string(used.ID))
	if !ok || !strings.Contains(ev.Details, "used: yes, ") {
		t.Errorf("revoke event %+v: want the usage of %s in its details", ev, used.Targets[0].ID)
	}
	w.waitApplied()
	w.mustBlock(w.c1, w.web.IPv4)
	time.Sleep(time.Second) // let the agent's last readings arrive
	before := w.target(admin, used.ID).Usage
	talk(t, conn, 20, 1000)
	time.Sleep(time.Second) // several reading intervals
	if after := w.target(admin, used.ID).Usage; after.Packets != before.Packets || after.Bytes != before.Bytes {
		t.Errorf("traffic after the grant ended was counted: %+v, then %+v", before, after)
	}
}

// TestIdleClose: with an idle timeout in the policy, a grant that carries
// no traffic is revoked with reason "idle" and its port closes, while a
// grant in use stays open.
func TestIdleClose(t *testing.T) {
	w := usageWorld(t)
	w.mustCLI(w.c1, w.adminToken, "policy", "set", "web", "--port", itoa(w.port), "--max-duration", "1h", "--idle-timeout", "2s")
	w.waitApplied()
	admin := w.api(w.c1, w.adminToken)
	fromC2 := w.api(w.c2, w.adminToken)

	busy := w.grant(admin, "1m")  // c1 keeps talking
	idle := w.grant(fromC2, "1m") // c2 connects once, then goes quiet
	w.mustOpen(w.c2, w.web.IPv4).Close()
	quietFrom := time.Now()
	conn := w.mustOpen(w.c1, w.web.IPv4)

	var tg d.Target
	for tg = w.target(admin, idle.ID); tg.Status == d.StatusActive; tg = w.target(admin, idle.ID) {
		if time.Since(quietFrom) > 10*time.Second {
			t.Fatalf("idle grant still active after %s: %+v", time.Since(quietFrom), tg)
		}
		talk(t, conn, 1, 100)
		time.Sleep(200 * time.Millisecond)
	}
	if tg.Status != d.StatusRevoked || tg.Reason != d.ReasonIdle {
		t.Fatalf("idle grant: status %s reason %q, want revoked (idle)", tg.Status, tg.Reason)
	}
	if el := time.Since(quietFrom); el < 2*time.Second {
		t.Errorf("idle grant closed after %s, before its 2s idle timeout", el)
	}
	if tg.Usage == nil || tg.Usage.Packets == 0 {
		t.Errorf("idle grant's single connection not counted: %+v", tg.Usage)
	}
	if ev, ok := w.event(admin, d.EvRequestRevoked, string(tg.ID)); !ok || !strings.Contains(ev.Reason, "idle") || ev.Actor != "system" {
		t.Errorf("idle revoke event %+v: want reason idle by system", ev)
	}
	w.waitApplied()
	eventually(t, 3*time.Second, "idle grant's port closed", func() bool { return w.blocked(w.c2, w.web.IPv4) })

	// The busy grant outlived several idle timeouts.
	if b := w.target(admin, busy.ID); b.Status != d.StatusActive {
		t.Errorf("busy grant %s (%s), want active", b.Status, b.Reason)
	}
	w.mustOpen(w.c1, w.web.IPv4).Close()
}
