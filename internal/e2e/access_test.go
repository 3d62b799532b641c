package e2e

import (
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// TestAccessLifecycle walks the whole contract on the real kernel: open
// before any policy, closed once enabled, open for the granted source only,
// closed for new connections at the end time while an established one
// survives, revoke --terminate cuts it, IPv6 works, and --cleanup leaves no
// rule behind.
func TestAccessLifecycle(t *testing.T) {
	w := newWorld(t)
	w.startServer()
	w.enroll()
	web4, web6 := w.web.IPv4, w.web.IPv6

	// Before any policy: the port is open to everyone.
	w.mustOpen(w.c1, web4).Close()
	w.mustOpen(w.c2, web4).Close()

	// Enabling a policy closes exactly that port at once.
	out := w.mustCLI(w.c1, w.adminToken, "policy", "set", "web", "--port", itoa(w.port)+"/tcp", "--max-duration", "1h")
	if !strings.Contains(out, "enabled") {
		t.Fatalf("policy set output: %s", out)
	}
	w.waitApplied()
	w.mustBlock(w.c1, web4)
	w.mustBlock(w.c2, web4)
	w.mustBlock(w.c1, web6)
	if out := w.mustCLI(w.c1, w.adminToken, "machines"); !strings.Contains(out, "Configured") {
		t.Fatalf("machines should show web Configured:\n%s", out)
	}

	// A requester asks from c1 with --wait: open for c1 only.
	alice := strings.TrimSpace(w.mustCLI(w.c1, w.adminToken, "token", "create", "--role", "requester", "--name", "alice"))
	out = w.mustCLI(w.c1, alice, "request", "web", "--port", itoa(w.port), "--duration", "3s", "--justification", "e2e", "--wait")
	if !strings.Contains(out, "active") || !strings.Contains(out, "open in") || !strings.Contains(out, w.c1.IPv4.String()+"/32") {
		t.Fatalf("request --wait output:\n%s", out)
	}
	reqs, err := w.api(w.c1, alice).Requests(t.Context(), clientFilterMine())
	if err != nil || len(reqs) != 1 {
		t.Fatalf("requests: %v %v", reqs, err)
	}
	end := reqs[0].End
	held := w.mustOpen(w.c1, web4) // established before the end time
	w.mustBlock(w.c2, web4)

	// At the end time the kernel closes it for new connections, within 1s,
	// with no help from the agent; the established connection survives.
	eventually(t, time.Until(end)+3*time.Second, "grant closed at its end time", func() bool { return w.blocked(w.c1, web4) })
	if late := time.Since(end); late > time.Second+400*time.Millisecond { // +400ms: the probe's own dial timeout
		t.Errorf("port closed %s after the end time, want within 1s", late)
	}
	if err := echo(held); err != nil {
		t.Errorf("established connection should survive expiry: %v", err)
	}
	eventually(t, 5*time.Second, "server marked the request expired", func() bool {
		r, err := w.api(w.c1, alice).Request(t.Context(), reqs[0].ID, 0)
		return err == nil && r.Status == d.StatusExpired
	})

	// revoke --terminate cuts established connections too.
	out = w.mustCLI(w.c1, alice, "request", "web", "--port", itoa(w.port), "--duration", "10m", "--wait", "-o", "json")
	r := jsonOf[d.Request](t, out)
	conn := w.mustOpen(w.c1, web4)
	w.mustCLI(w.c1, alice, "revoke", string(r.ID), "--terminate", "--reason", "e2e done")
	eventually(t, 5*time.Second, "established connection cut by revoke --terminate", func() bool { return echo(conn) != nil })
	w.mustBlock(w.c1, web4)

	// A requester cannot revoke someone else's request.
	bob := strings.TrimSpace(w.mustCLI(w.c2, w.adminToken, "token", "create", "--role", "requester", "--name", "bob"))
	out = w.mustCLI(w.c1, alice, "request", "web", "--port", itoa(w.port), "--duration", "10m", "--wait", "-o", "json")
	r = jsonOf[d.Request](t, out)
	if _, err := w.cli(w.c2, bob, "revoke", string(r.ID)); err == nil {
		t.Fatal("bob revoked alice's request")
	}
	w.mustCLI(w.c1, alice, "revoke", string(r.ID))
	eventually(t, 5*time.Second, "revoked grant closed", func() bool { return w.blocked(w.c1, web4) })

	// IPv6: c2 asks over IPv6, so its source is its IPv6 address.
	r6, err := w.apiAt(w.c2, bob, w.serverAddr6).RequestCreate(t.Context(), d.RequestInput{
		Targets: []d.MachineTargets{{Machine: "web", Ports: []d.PortTarget{{Port: w.port}}}}, Duration: "10m"}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := r6.Targets[0].Source.String(); got != w.c2.IPv6.String()+"/128" || r6.Status != d.StatusActive {
		t.Fatalf("IPv6 request: source %s status %s", got, r6.Status)
	}
	w.mustOpen(w.c2, web6).Close()
	w.mustBlock(w.c1, web6)
	w.mustBlock(w.c2, web4) // the grant is for its IPv6 address only

	// Bad input is refused with a clear message naming the field.
	if _, err := w.cli(w.c1, alice, "request", "web", "--port", "1"); err == nil || !strings.Contains(err.Error(), "not in the JIT policy") {
		t.Fatalf("request for a port outside the policy: %v", err)
	}
	if _, err := w.cli(w.c1, alice, "request", "web", "--port", itoa(w.port), "--duration", "2h"); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("request over the max duration: %v", err)
	}

	// Disabling the policy removes the deny rules and revokes the grants.
	w.mustCLI(w.c1, w.adminToken, "policy", "disable", "web")
	w.waitApplied()
	w.mustOpen(w.c1, web4).Close()
	r6now, err := w.api(w.c1, w.adminToken).Request(t.Context(), r6.ID, 0)
	if err != nil || r6now.Status != d.StatusRevoked {
		t.Fatalf("grant after disable: %v %v", r6now.Status, err)
	}

	// Uninstall: --cleanup leaves no Drawbridge rule.
	w.mustCLI(w.c1, w.adminToken, "policy", "enable", "web")
	w.agent.kill(9)
	if out, err := w.web.Run(t.Context(), bin, "agent", "--cleanup"); err != nil {
		t.Fatalf("cleanup: %v %s", err, out)
	}
	if tables := nftTable(t, w.web); strings.Contains(tables, "drawbridge") {
		t.Fatalf("table left after --cleanup:\n%s", tables)
	}
}
