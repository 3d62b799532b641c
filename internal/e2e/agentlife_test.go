package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentStopShowsOffline: an agent stopped cleanly tells the server, so
// its machine is offline as soon as the agent has exited, not after the
// online window.
func TestAgentStopShowsOffline(t *testing.T) {
	w := newWorld(t)
	w.startServer()
	w.enroll()
	w.agent.kill(syscall.SIGTERM)
	if err := w.agent.cmd.ProcessState; err == nil || !err.Success() {
		t.Fatalf("agent stopped with %v, want exit 0\n%s", err, w.agent.out.String())
	}
	m, err := w.api(w.c1, w.adminToken).Machine(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if m.Online || m.StoppedAt.IsZero() {
		t.Errorf("after a clean stop: online %v, stopped_at %v; want offline with the time", m.Online, m.StoppedAt)
	}
	// Back again: online.
	w.startAgent()
	eventually(t, 10*time.Second, "agent back online", func() bool {
		m, err := w.api(w.c1, w.adminToken).Machine(t.Context(), "web")
		return err == nil && m.Online
	})
}

// TestAgentOfDeletedMachineExits: after `machines delete`, the agent stops
// retrying: it exits non-zero and says what to do.
func TestAgentOfDeletedMachineExits(t *testing.T) {
	w := newWorld(t)
	w.startServer()
	w.enroll()
	w.mustCLI(w.c1, w.adminToken, "machines", "delete", "web")
	select {
	case <-w.agent.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("agent still running 60s after its machine was deleted\n%s", w.agent.out.String())
	}
	if st := w.agent.cmd.ProcessState; st.Success() {
		t.Errorf("agent exited 0 after its machine was deleted, want non-zero")
	}
	out := w.agent.out.String()
	for _, want := range []string{"deleted", "drawbridge agent --cleanup", "join token"} {
		if !strings.Contains(out, want) {
			t.Errorf("agent's last words lack %q:\n%s", want, out)
		}
	}
}

// TestAgentClockEstimate: the agent measures its clock against the server's
// and reports it. Here both read one kernel's clock, so the estimate is
// within its own uncertainty (half the round trip) of zero.
func TestAgentClockEstimate(t *testing.T) {
	w := newWorld(t)
	w.startServer()
	w.enroll()
	w.protect() // an applied state: its ack carries the estimate
	m, err := w.api(w.c1, w.adminToken).Machine(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	c := m.Inventory.Clock
	if c == nil {
		t.Fatal("no clock estimate after an ack")
	}
	if c.Offset.Std().Abs() > c.RTT.Std()/2+5*time.Millisecond || m.ClockWarning != "" {
		t.Errorf("clock %+v, warning %q: want within rtt/2 of zero, no warning", c, m.ClockWarning)
	}
}
