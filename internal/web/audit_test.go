package web_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/drawbridge/drawbridge/internal/audit"
	"github.com/drawbridge/drawbridge/internal/pki"
)

func TestAuditRead(t *testing.T) {
	e, requester := requestsEnv(t)
	auditor, _ := e.token(t, "carol", d.RoleAuditor)
	ac := e.clientFor(t, auditor)
	r := e.request(t, requester, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3", Justification: "Wartung «Störung», \"urgent\"; 日本語 🚑"})

	// The requester may not read the log; the auditor may.
	rc := e.clientFor(t, requester)
	if _, _, err := rc.EventsPage(t.Context(), client.EventQuery{}); d.ErrorKind(err) != d.Forbidden {
		t.Fatalf("requester reading events: %v, want Forbidden", err)
	}
	all, next, err := ac.EventsPage(t.Context(), client.EventQuery{Limit: 1000})
	if err != nil || next != 0 || len(all) < 5 {
		t.Fatalf("EventsPage = %d events, next %d, %v", len(all), next, err)
	}

	// Paging: every event exactly once, in order.
	var paged []d.Event
	for q := (client.EventQuery{Limit: 2}); ; {
		es, next, err := ac.EventsPage(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, es...)
		if next == 0 {
			break
		}
		q.After = next
	}
	if len(paged) != len(all) || paged[len(paged)-1].ID != all[len(all)-1].ID {
		t.Fatalf("paging returned %d events, want %d", len(paged), len(all))
	}

	// Filters.
	for _, tc := range []struct {
		name string
		q    client.EventQuery
		want func(ev d.Event) bool
	}{
		{"machine web1", client.EventQuery{Machine: "web1"}, func(ev d.Event) bool {
			return ev.RequestID == r.ID || ev.Target == string(e.machine(t, "web1").ID) || ev.Actor == "agent:"+string(e.machine(t, "web1").ID)
		}},
		{"user alice", client.EventQuery{User: "alice"}, func(ev d.Event) bool { return ev.ActorName == "alice" }},
		{"action", client.EventQuery{Action: d.EvRequestCreated}, func(ev d.Event) bool { return ev.Action == d.EvRequestCreated }},
		{"since future", client.EventQuery{Since: time.Now().Add(time.Hour).Format(time.RFC3339)}, func(d.Event) bool { return false }},
		{"since 1h", client.EventQuery{Since: "1h"}, func(d.Event) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := ac.EventsPage(t.Context(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var want []d.EventID
			for _, ev := range all {
				if tc.want(ev) {
					want = append(want, ev.ID)
				}
			}
			var ids []d.EventID
			for _, ev := range got {
				ids = append(ids, ev.ID)
			}
			if len(ids) != len(want) || len(want) > 0 && ids[0] != want[0] {
				t.Errorf("got %v, want %v", ids, want)
			}
		})
	}
	wantError(t, e.call(t, "GET", "/api/v1/events?since=yesterday", auditor, nil), http.StatusBadRequest, d.Invalid, "since")
	wantError(t, e.call(t, "GET", "/api/v1/events?format=xml", auditor, nil), http.StatusBadRequest, d.Invalid, "format")
	wantError(t, e.call(t, "GET", "/api/v1/events?format=csv", requester, nil), http.StatusForbidden, d.Forbidden, "")

	// CSV: Go's encoding/csv reads it back; the justification survives,
	// with the formula neutralised.
	body, err := ac.EventsExport(t.Context(), client.EventQuery{Action: d.EvRequestCreated}, "csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(body).ReadAll()
	body.Close()
	if err != nil || len(recs) != 2 {
		t.Fatalf("csv: %d records, %v", len(recs), err)
	}
	if got := recs[1][8]; got != r.Justification {
		t.Errorf("csv reason %q, want %q", got, r.Justification)
	}
	// A justification starting with = is escaped.
	r2 := e.request(t, requester, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.4", Justification: "=1+2"})
	body, _ = ac.EventsExport(t.Context(), client.EventQuery{Request: r2.ID, Action: d.EvRequestCreated}, "csv")
	recs, _ = csv.NewReader(body).ReadAll()
	body.Close()
	if len(recs) != 2 || recs[1][8] != "'=1+2" {
		t.Errorf("formula cell: %q", recs)
	}

	// JSON Lines verify offline, as a whole chain from the genesis.
	body, err = ac.EventsExport(t.Context(), client.EventQuery{}, "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	v := audit.NewVerifier(nil)
	n := 0
	if err := audit.ReadJSONL(bytes.NewReader(b), func(ev *d.Event) error { n++; v.Add(ev); return nil }); err != nil {
		t.Fatal(err)
	}
	// Since all was read: r2's creation and three refused calls (audited).
	if rep := v.Finish(0, ""); !rep.OK || n != len(all)+4 {
		t.Errorf("jsonl export: %d events, %+v", n, rep)
	}
}

func TestAuditVerifyAndHead(t *testing.T) {
	e, requester := requestsEnv(t)
	e.request(t, requester, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3"})
	auditor, _ := e.token(t, "carol", d.RoleAuditor)
	ac := e.clientFor(t, auditor)
	if _, err := e.clientFor(t, requester).AuditHead(t.Context()); d.ErrorKind(err) != d.Forbidden {
		t.Errorf("requester reading the head: %v", err)
	}
	h, err := ac.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if h.ID == 0 || h.CAPin != e.ca.Pin() {
		t.Errorf("head %+v", h)
	}
	verifyCA := func(dg, sig []byte) error { return pki.VerifyDigest(e.ca.CACert(), dg, sig) }
	if err := audit.VerifyHead(*h, verifyCA); err != nil {
		t.Fatalf("head signature: %v", err)
	}
	forged := *h
	forged.Hash = strings.Repeat("0", 64)
	if audit.VerifyHead(forged, verifyCA) == nil {
		t.Error("a forged head verified")
	}
	rep, err := ac.AuditVerify(t.Context(), h)
	if err != nil || !rep.OK || rep.Last < h.ID {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
	rep, err = ac.AuditVerify(t.Context(), &forged)
	if err != nil || rep.OK || rep.Problem.Kind != d.AuditMismatch {
		t.Fatalf("verify against a forged head = %+v, %v", rep, err)
	}
	// No route changes or deletes events.
	for _, m := range []string{"PUT", "PATCH", "DELETE", "POST"} {
		if got := e.call(t, m, "/api/v1/events", e.admin, nil).status; got != http.StatusMethodNotAllowed && got != http.StatusNotFound {
			t.Errorf("%s /api/v1/events = %d", m, got)
		}
	}
}

func TestMachineAccessFigures(t *testing.T) {
	e, requester := requestsEnv(t)
	a := e.enroll(t, "web3")
	e.policy(t, "web3", d.RuleInput{Port: 22})
	r := e.request(t, requester, d.RequestInput{Targets: ports("web3", 22), Source: "10.1.2.3"})
	ds := a.state(t)
	a.ack(t, d.AckInput{Version: ds.Version})
	got, err := e.adminC.Machine(t.Context(), "web3")
	if err != nil {
		t.Fatal(err)
	}
	if got.ApprovedLast7d != 1 || got.LastUser != "alice" || got.LastAccess.IsZero() {
		t.Errorf("web3 figures: approved %d, last %v by %q (request %s)", got.ApprovedLast7d, got.LastAccess, got.LastUser, r.ID)
	}
	ms, err := e.adminC.Machines(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Name == "web3" && m.ApprovedLast7d != 1 || m.Name == "web2" && m.ApprovedLast7d != 0 {
			t.Errorf("%s: %d approved", m.Name, m.ApprovedLast7d)
		}
	}
}

// TestAuditRetention prunes with an archive: the archive verifies offline
// from the genesis to the anchor, and the log verifies from the anchor on.
func TestAuditRetention(t *testing.T) {
	e, requester := requestsEnv(t)
	e.request(t, requester, d.RequestInput{Targets: ports("web1", 22), Source: "10.1.2.3"})
	before, err := e.adminC.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(48 * time.Hour)
	e.request(t, requester, d.RequestInput{Targets: ports("web2", 22), Source: "10.1.2.3"})
	dir := t.TempDir()
	a, err := e.svc.AuditPrune(t.Context(), 24*time.Hour, dir)
	if err != nil || a == nil {
		t.Fatalf("AuditPrune = %+v, %v", a, err)
	}
	if a.ID != before.ID || a.Hash != before.Hash {
		t.Errorf("anchor %d %s, want the old head %d %s", a.ID, a.Hash, before.ID, before.Hash)
	}
	f, err := os.Open(a.Archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := audit.NewVerifier(nil)
	if err := audit.ReadJSONL(f, func(ev *d.Event) error { v.Add(ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if rep := v.Finish(0, ""); !rep.OK || rep.Last != a.ID || rep.Checked != a.Count {
		t.Errorf("archive: %+v", rep)
	}
	rep, err := e.adminC.AuditVerify(t.Context(), nil)
	if err != nil || !rep.OK || rep.Anchor == nil || rep.First != a.ID+1 {
		t.Fatalf("after pruning: %+v, %v", rep, err)
	}
	es, _, _ := e.adminC.EventsPage(t.Context(), client.EventQuery{Action: d.EvAuditPruned})
	if len(es) != 1 {
		t.Errorf("%d audit.pruned events, want 1", len(es))
	}
	// Nothing more is old enough: a second prune does nothing.
	if a2, err := e.svc.AuditPrune(t.Context(), 24*time.Hour, dir); err != nil || a2 != nil {
		t.Errorf("second prune = %+v, %v", a2, err)
	}
}
