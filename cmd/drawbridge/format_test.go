package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

func TestSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"café ünïcode ✓ 日本", "café ünïcode ✓ 日本"},
		{"red \x1b[31malert\x1b[0m", `red \x1b[31malert\x1b[0m`},
		{"title \x1b]0;pwned\x07", `title \x1b]0;pwned\x07`},
		{"nul\x00byte", `nul\x00byte`},
		{"two\nlines\r\tand tab", `two\nlines\r\tand tab`},
		{"del\x7f", `del\x7f`},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"isolate \u2066x\u2069", `isolate \u2066x\u2069`},
		{"line\u2028sep", `line\u2028sep`},
		{"bad \xff utf8", `bad \xff utf8`},
	}
	for _, tt := range tests {
		if got := safe(tt.in); got != tt.want {
			t.Errorf("safe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// evil is stored text with everything a terminal could act on.
const evil = "x\x1b[2J\x1b]0;pwned\x07\x00\nfake row\u202eevil\u009b"

// wantPrintable fails if out holds a control character other than the
// newlines and spaces of the CLI's own layout, or a bidi override.
func wantPrintable(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && unsafeRune(r) {
			t.Errorf("%s printed %U:\n%q", what, r, out)
			return
		}
	}
	if strings.Contains(out, "\nfake row") {
		t.Errorf("%s let stored text start a new line:\n%s", what, out)
	}
}

// TestOutputEscapesStoredText checks that what the server stored, whatever
// it holds, reaches the terminal only escaped: request tables and details,
// approvals, machines, the audit table, and errors.
func TestOutputEscapesStoredText(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	mid := s.agent(t, "web1")
	if _, err := s.admin.PolicySet(t.Context(), "web1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}},
		Approval: &d.ApprovalInput{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 1}}}}); err != nil {
		t.Fatal(err)
	}
	// Written straight to the store, as old data or a future bug might have
	// left it: the API's own validation is not what this test is about.
	db, err := store.Open(t.Context(), "", s.dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	r := &d.Request{ID: d.NewRequestID(), Requester: "token:tok_evil00000000", RequesterName: "mallory" + evil, Justification: evil,
		CreatedAt: now, Duration: d.Duration(time.Hour), Status: d.StatusPending, PendingUntil: now.Add(time.Hour),
		Approval: d.ApprovalRule{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Quorum: 1}}, PendingTTL: d.Duration(time.Hour)}}
	r.Targets = []d.Target{{ID: d.NewTargetID(), RequestID: r.ID, MachineID: mid, MachineName: "web1", Port: 22, Protocol: d.TCP,
		Source: mustPrefix(t, "10.0.0.1/32"), Status: d.StatusPending, Reason: evil}}
	err = db.Tx(t.Context(), func(tx *store.Tx) error {
		if err := tx.RequestCreate(r); err != nil {
			return err
		}
		return tx.EventAppend(&d.Event{Time: now, Actor: "token:tok_evil00000000", ActorName: "mallory" + evil, Action: d.EvRequestCreated,
			Target: string(r.ID), Result: d.ResultSuccess, Reason: evil, RequestID: r.ID})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"requests"},
		{"requests", string(r.ID)},
		{"approvals"},
		{"machines"},
		{"audit"},
		{"requests", "-o", "json"},
		{"audit", "-o", "json"},
	} {
		code, out, errOut := cli(t, s.vars, nil, args...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
		wantPrintable(t, strings.Join(args, " "), out+errOut)
	}
	code, out, _ := cli(t, s.vars, nil, "requests", string(r.ID))
	// JSON stays the same value, escaped.
	if _, jout, _ := cli(t, s.vars, nil, "requests", string(r.ID), "-o", "json"); !strings.Contains(jout, `"x\u001b[2J\u001b]0;pwned\u0007\u0000\nfake row\u202eevil\u009b"`) {
		t.Errorf("-o json does not hold the reason as escaped JSON:\n%s", jout)
	}
	if code != 0 || !strings.Contains(out, `x\x1b[2J\x1b]0;pwned\x07\x00\nfake row\u202eevil\u009b`) {
		t.Errorf("requests REQ does not show the reason escaped:\n%s", out)
	}
}

// TestServerErrorsEscaped checks that an error message from the server (or
// whatever answers in its place) is printed escaped.
func TestServerErrorsEscaped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "conflict", "message": "no: " + evil, "request_id": "r1"}})
	}))
	defer srv.Close()
	code, out, errOut := cli(t, map[string]string{"DRAWBRIDGE_ADDR": srv.URL, "DRAWBRIDGE_TOKEN": "tok"}, nil, "machines")
	if code == 0 || !strings.Contains(errOut, `drawbridge: no: x\x1b[2J`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	wantPrintable(t, "an error", out+errOut)
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
