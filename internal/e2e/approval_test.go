package e2e

import (
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// TestManualApproval: a policy that needs two approvals (one per level)
// keeps the port closed until the second approval, then opens it for the
// granted window only, counted from the final approval.
func TestManualApproval(t *testing.T) {
	w := newWorld(t)
	w.startServer()
	w.enroll()
	w.mustCLI(w.c1, w.adminToken, "policy", "set", "web", "--port", itoa(w.port), "--max-duration", "1h",
		"--approval", "manual", "--quorum", "1", "--second-level-quorum", "1", "--justification", "required")
	w.waitApplied()
	w.mustBlock(w.c1, w.web.IPv4)

	alice := strings.TrimSpace(w.mustCLI(w.c1, w.adminToken, "token", "create", "--role", "requester", "--name", "alice", "--owner", "alice@example.com"))
	ann := strings.TrimSpace(w.mustCLI(w.c2, w.adminToken, "token", "create", "--role", "approver", "--name", "ann", "--owner", "ann@example.com"))
	bob := strings.TrimSpace(w.mustCLI(w.c2, w.adminToken, "token", "create", "--role", "approver", "--name", "bob", "--owner", "bob@example.com"))

	if _, err := w.cli(w.c1, alice, "request", "web", "--port", itoa(w.port), "--duration", "4s"); err == nil || !strings.Contains(err.Error(), "justification is required") {
		t.Fatalf("request without the required justification: %v", err)
	}
	dry := w.mustCLI(w.c1, alice, "request", "web", "--port", itoa(w.port), "--duration", "4s", "--justification", "INC-1", "--dry-run")
	if !strings.Contains(dry, "after approval") {
		t.Fatalf("dry run should say approval is needed:\n%s", dry)
	}
	out := w.mustCLI(w.c1, alice, "request", "web", "--port", itoa(w.port), "--duration", "4s", "--justification", "INC-1", "-o", "json") // no --wait: it would wait for the approval below
	r := jsonOf[d.Request](t, out)
	if r.Status != d.StatusPending {
		t.Fatalf("request should wait for approval, is %s", r.Status)
	}
	w.mustBlock(w.c1, w.web.IPv4)

	if _, err := w.cli(w.c1, alice, "approve", string(r.ID)); err == nil {
		t.Fatal("requester approved its own request")
	}
	if out := w.mustCLI(w.c2, ann, "approvals"); !strings.Contains(out, string(r.ID)) {
		t.Fatalf("ann's approvals should list %s:\n%s", r.ID, out)
	}
	w.mustCLI(w.c2, ann, "approve", string(r.ID), "--reason", "looks right")
	w.mustBlock(w.c1, w.web.IPv4) // first level only: still closed
	if _, err := w.cli(w.c2, ann, "approve", string(r.ID)); err == nil {
		t.Fatal("ann approved twice")
	}
	approved := time.Now()
	w.mustCLI(w.c2, bob, "approve", string(r.ID))
	var got *d.Request
	eventually(t, 5*time.Second, "request active after the final approval", func() bool {
		var err error
		got, err = w.api(w.c1, alice).Request(t.Context(), r.ID, 0)
		return err == nil && got.Status == d.StatusActive
	})
	if got.Start.Before(approved.Add(-time.Second)) || got.End.Sub(got.Start) != 4*time.Second {
		t.Fatalf("window should start at the final approval and last 4s: start %s (approved ~%s), end %s", got.Start, approved, got.End)
	}
	w.mustOpen(w.c1, w.web.IPv4).Close()
	w.mustBlock(w.c2, w.web.IPv4)
	eventually(t, time.Until(got.End)+3*time.Second, "closed at the end of the approved window", func() bool { return w.blocked(w.c1, w.web.IPv4) })

	// A denied request never opens.
	out = w.mustCLI(w.c1, alice, "request", "web", "--port", itoa(w.port), "--duration", "1m", "--justification", "INC-2", "-o", "json")
	r2 := jsonOf[d.Request](t, out)
	if _, err := w.cli(w.c2, ann, "deny", string(r2.ID)); err == nil {
		t.Fatal("deny without a reason was accepted")
	}
	w.mustCLI(w.c2, ann, "deny", string(r2.ID), "--reason", "no incident")
	if g, err := w.api(w.c1, alice).Request(t.Context(), r2.ID, 0); err != nil || g.Status != d.StatusDenied {
		t.Fatalf("denied request: %v %v", g.Status, err)
	}
	w.mustBlock(w.c1, w.web.IPv4)
}
