package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

func itoa(n uint16) string { return strconv.Itoa(int(n)) }

func clientFilterMine() client.RequestsFilter { return client.RequestsFilter{Mine: true} }

// protect enables a policy on the echo port and waits until it is enforced.
func (w *world) protect() {
	w.t.Helper()
	w.mustCLI(w.c1, w.adminToken, "policy", "set", "web", "--port", itoa(w.port), "--max-duration", "1h")
	w.waitApplied()
	w.mustBlock(w.c1, w.web.IPv4)
}

func (w *world) grant(h *client.Client, dur string) *d.Request {
	w.t.Helper()
	r, err := h.RequestCreate(w.t.Context(), d.RequestInput{
		Targets: []d.MachineTargets{{Machine: "web", Ports: []d.PortTarget{{Port: w.port}}}}, Duration: dur}, 10*time.Second)
	if err != nil {
		w.t.Fatal(err)
	}
	if r.Status != d.StatusActive {
		w.t.Fatalf("grant not active: %+v", r)
	}
	return r
}

var timeoutRE = regexp.MustCompile(`expires ([0-9hms]+)`)

// kernelRemaining reads the remaining time of the only allow4 element.
func (w *world) kernelRemaining() (time.Duration, bool) {
	out, err := w.web.Run(w.t.Context(), "nft", "list", "set", "inet", "drawbridge", "allow4")
	if err != nil {
		return 0, false
	}
	m := timeoutRE.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	dur, err := time.ParseDuration(m[1])
	return dur, err == nil
}

// TestAgentKilled: kill -9 the agent while a grant is active; the port still
// closes on time. A revoke issued while the agent is away is applied when it
// returns, and the restarted agent reinstalls active grants with their
// remaining time, never extending them.
func TestAgentKilled(t *testing.T) {
	w := newWorld(t)
	w.startServer()
	w.enroll()
	w.protect()
	admin := w.api(w.c1, w.adminToken)

	r := w.grant(admin, "3s")
	w.mustOpen(w.c1, w.web.IPv4).Close()
	w.agent.kill(9)
	eventually(t, time.Until(r.End)+3*time.Second, "grant closed with the agent dead", func() bool { return w.blocked(w.c1, w.web.IPv4) })
	if late := time.Since(r.End); late > time.Second+400*time.Millisecond {
		t.Errorf("closed %s after the end time with the agent dead", late)
	}

	// --wait fails clearly while the machine is offline.
	eventually(t, 10*time.Second, "machine offline", func() bool {
		m, err := admin.Machine(t.Context(), "web")
		return err == nil && !m.Online
	})
	_, err := w.cli(w.c1, w.adminToken, "request", "web", "--port", itoa(w.port), "--duration", "1m", "--wait")
	if err == nil || !strings.Contains(err.Error(), "offline") {
		t.Fatalf("--wait with the agent offline: %v", err)
	}

	// Restart, grant, kill again, revoke while away: applied on return.
	w.startAgent()
	eventually(t, 10*time.Second, "agent back", func() bool { m, err := admin.Machine(t.Context(), "web"); return err == nil && m.Online })
	w.waitApplied() // the request made while offline is applied on return: it opens
	long := w.grant(admin, "10m")
	keep := w.grant(admin, "30s")
	w.agent.kill(9)
	if _, err := admin.Revoke(t.Context(), long.ID, d.RevokeInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Revoke(t.Context(), mustOnlyOpenOther(t, admin, long.ID, keep.ID), d.RevokeInput{}); err != nil {
		t.Fatal(err)
	}
	w.mustOpen(w.c1, w.web.IPv4).Close() // agent away: the kernel still has the element
	w.startAgent()
	w.waitApplied()
	// keep (30s) is still granted: the restarted agent installs what is
	// left of it, never more (the coalesced 10m element must shrink to it).
	// What is left is taken before the kernel is read: the element can only
	// have less by then, however slowly nft answers on a loaded machine.
	left := time.Until(keep.End)
	after, ok := w.kernelRemaining()
	if !ok {
		t.Fatal("active grant missing after restart")
	}
	if after > left+50*time.Millisecond {
		t.Fatalf("restart extended a grant: kernel remaining %s, but only %s is left", after, left)
	}
	w.mustOpen(w.c1, w.web.IPv4).Close()
	// Revoke keep too: closed at once.
	if _, err := admin.Revoke(t.Context(), keep.ID, d.RevokeInput{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "all revoked grants removed", func() bool { return w.blocked(w.c1, w.web.IPv4) })
}

// mustOnlyOpenOther returns the ID of an open request that is neither a nor b
// (the one made while the agent was offline), so the test can close it.
func mustOnlyOpenOther(t *testing.T, c *client.Client, a, b d.RequestID) d.RequestID {
	t.Helper()
	rs, err := c.Requests(t.Context(), client.RequestsFilter{Open: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.ID != a && r.ID != b {
			return r.ID
		}
	}
	t.Fatal("no other open request")
	return ""
}

// TestServerDown: with the server stopped, an open grant still closes on
// time; after a restart everything carries on from the database.
func TestServerDown(t *testing.T) {
	w := newWorld(t)
	w.startServer()
	w.enroll()
	w.protect()
	r := w.grant(w.api(w.c1, w.adminToken), "3s")
	w.mustOpen(w.c1, w.web.IPv4).Close()
	w.server.kill(9)
	eventually(t, time.Until(r.End)+3*time.Second, "grant closed with the server dead", func() bool { return w.blocked(w.c1, w.web.IPv4) })
	if late := time.Since(r.End); late > time.Second+400*time.Millisecond {
		t.Errorf("closed %s after the end time with the server dead", late)
	}
	w.startServer()
	eventually(t, 10*time.Second, "request recorded as expired after restart", func() bool {
		got, err := w.api(w.c1, w.adminToken).Request(t.Context(), r.ID, 0)
		return err == nil && got.Status == d.StatusExpired
	})
	eventually(t, 40*time.Second, "agent reconnected", func() bool {
		m, err := w.api(w.c1, w.adminToken).Machine(t.Context(), "web")
		return err == nil && m.Online
	})
	w.grant(w.api(w.c1, w.adminToken), "1m")
	w.mustOpen(w.c1, w.web.IPv4).Close()
}

// TestDriftRepair: someone deletes our table or adds a rogue allow element;
// the agent repairs it within a few seconds, with the grant's remaining time.
func TestDriftRepair(t *testing.T) {
	w := newWorld(t)
	w.startServer()
	w.enroll()
	w.protect()
	w.grant(w.api(w.c1, w.adminToken), "5m")
	before, _ := w.kernelRemaining()
	if _, err := w.web.Run(t.Context(), "nft", "delete", "table", "inet", "drawbridge"); err != nil {
		t.Fatal(err)
	}
	w.mustOpen(w.c2, w.web.IPv4).Close() // no table: open to all, until repaired
	eventually(t, 5*time.Second, "table repaired", func() bool { return w.blocked(w.c2, w.web.IPv4) })
	w.mustOpen(w.c1, w.web.IPv4).Close() // the grant came back
	if after, ok := w.kernelRemaining(); !ok || after > before {
		t.Fatalf("repaired grant: remaining %s (before %s), ok %v", after, before, ok)
	}
	rogue := fmt.Sprintf("{ %s . tcp . %d timeout 1h }", w.c2.IPv4, w.port)
	if _, err := w.web.Run(t.Context(), "nft", "add", "element", "inet", "drawbridge", "allow4", rogue); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "rogue allow element removed", func() bool { return w.blocked(w.c2, w.web.IPv4) })
	if !strings.Contains(w.agent.out.String(), "repaired drift") {
		t.Error("agent did not log the repair")
	}
}

// TestRebootFailsClosed: after a reboot the kernel has no table; an agent
// that starts while the server is unreachable closes the last known
// protected ports at once instead of leaving them open.
func TestRebootFailsClosed(t *testing.T) {
	w := newWorld(t)
	w.startServer()
	w.enroll()
	w.protect()
	w.agent.kill(9)
	w.server.kill(9)
	if _, err := w.web.Run(t.Context(), "nft", "delete", "table", "inet", "drawbridge"); err != nil { // what a reboot does
		t.Fatal(err)
	}
	w.mustOpen(w.c1, w.web.IPv4).Close()
	w.startAgent()
	eventually(t, 5*time.Second, "protected port closed again with the server down", func() bool { return w.blocked(w.c1, w.web.IPv4) })
	w.startServer()
	eventually(t, 40*time.Second, "agent reconnected", func() bool {
		m, err := w.api(w.c1, w.adminToken).Machine(t.Context(), "web")
		return err == nil && m.Online
	})
	w.grant(w.api(w.c1, w.adminToken), "1m")
	w.mustOpen(w.c1, w.web.IPv4).Close()
}
