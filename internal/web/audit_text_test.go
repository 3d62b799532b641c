package web_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
)

// rawJSON is a JSON string literal written byte for byte, so that a test
// can send what json.Marshal never would: invalid UTF-8 and lone
// surrogate escapes.
type rawJSON string

// textGen makes random free text from a seeded generator: printable ASCII,
// letters from many scripts, emoji, combining marks, C0 and C1 controls,
// bidi controls, invalid bytes, a rune cut in the middle, surrogates
// encoded as WTF-8 or escaped in JSON, and now and then a very long run.
type textGen struct{ r *rand.Rand }

// next returns a JSON string literal (quotes included) and whether it
// holds only what a JSON encoder could produce from valid UTF-8.
func (g textGen) next() rawJSON {
	var b strings.Builder
	b.WriteByte('"')
	for range g.r.IntN(12) {
		switch g.r.IntN(16) {
		case 0, 1, 2:
			words := []string{"deploy", "hotfix", "INC-42", "'quoted'", "a,b", "=1+1", "@SUM(A1)", "-x", "+1", " ", "<b>&</b>"}
			b.WriteString(words[g.r.IntN(len(words))])
		case 3:
			b.WriteString(string(rune(0xa0 + g.r.IntN(0x2000)))) // Latin-1 to general punctuation
		case 4:
			b.WriteString(string(rune(0x4e00 + g.r.IntN(0x5000)))) // CJK
		case 5:
			b.WriteString(string(rune(0x1f300 + g.r.IntN(0x300)))) // emoji, outside the BMP
		case 6:
			b.WriteString("e\u0301\u20dd") // combining marks
		case 7: // C0, DEL, as JSON escapes or (tab) raw is not allowed by JSON: escape
			fmt.Fprintf(&b, `\u%04x`, []int{0, 7, 9, 10, 13, 27, 0x7f}[g.r.IntN(7)])
		case 8: // C1 and bidi controls, raw UTF-8
			b.WriteString(string([]rune{0x85, 0x9b, 0x202e, 0x2066, 0x2028}[g.r.IntN(5)]))
		case 9: // an invalid byte
			b.WriteByte(byte(0x80 + g.r.IntN(0x80)))
		case 10: // a rune cut in the middle
			b.WriteString("\xe2\x82")
		case 11: // a surrogate as WTF-8
			b.Write([]byte{0xed, byte(0xa0 + g.r.IntN(0x20)), byte(0x80 + g.r.IntN(0x40))})
		case 12: // a lone surrogate escape
			fmt.Fprintf(&b, `\u%04x`, 0xd800+g.r.IntN(0x800))
		case 13: // a surrogate pair, which is fine
			b.WriteString(`\ud83d\ude80`)
		case 14: // a long run of multi-byte runes, to be cut somewhere
			b.WriteString(strings.Repeat("é", 300+g.r.IntN(700)))
		case 15:
			b.WriteString(`\"\\`)
		}
	}
	b.WriteByte('"')
	return rawJSON(b.String())
}

// body builds a JSON object from keys and values: a rawJSON value is
// written as is, anything else as its Go literal form.
func body(kv ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(kv[i].(string)) + ":")
		switch v := kv[i+1].(type) {
		case rawJSON:
			b.WriteString(string(v))
		case string:
			b.WriteString(v) // already JSON
		}
	}
	b.WriteByte('}')
	return b.String()
}

// TestAuditExportVerifiesWhateverTheText writes random Unicode (valid or
// not, controls, lone surrogates, long runs) through every free-text field
// that can reach the audit chain, then exports the log as JSON Lines and
// as CSV and verifies both offline: an untampered log must always verify.
// No input may cause a 500; every stored field must be clean text.
func TestAuditExportVerifiesWhateverTheText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	auto := e.enroll(t, "web1")
	e.policy(t, "web1", d.RuleInput{Port: 22})
	e.enroll(t, "pay1")
	if _, err := e.adminC.PolicySet(t.Context(), "pay1", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Approval: &d.ApprovalInput{Mode: d.ApprovalManual}}); err != nil {
		t.Fatal(err)
	}
	alice, _ := e.token(t, "alice", d.RoleRequester)

	seed := uint64(20261129)
	g := textGen{rand.New(rand.NewPCG(seed, seed))}
	accepted := map[string]int{}
	try := func(field string, r response) {
		t.Helper()
		switch {
		case r.status >= 500:
			t.Fatalf("%s: status %d: %s", field, r.status, r.body)
		case r.status < 300:
			accepted[field]++
		case r.status != http.StatusBadRequest && r.status != http.StatusConflict: // the same subject twice is a 409
			t.Fatalf("%s: status %d, want 2xx, 400 or 409: %s", field, r.status, r.body)
		}
	}
	target := func(machine string) string {
		return `[{"machine":"` + machine + `","ports":[{"port":22}]}]`
	}
	newRequest := func(token, machine string) *d.Request {
		t.Helper()
		return e.request(t, token, d.RequestInput{Targets: ports(machine, 22), Source: "10.1.2.3", Duration: "1h"})
	}
	for i := range 40 {
		// Justification (request.created).
		try("justification", e.call(t, "POST", "/api/v1/requests", alice, body("targets", target("web1"), "source", `"10.1.2.3"`, "duration", `"1h"`, "justification", g.next())))

		// Extension reason (request.extended), then revoke reason (request.revoked).
		open := newRequest(alice, "web1")
		try("extend reason", e.call(t, "POST", "/api/v1/requests/"+string(open.ID)+"/extend", alice, body("by", `"1m"`, "reason", g.next())))
		try("revoke reason", e.call(t, "POST", "/api/v1/requests/"+string(open.ID)+"/revoke", e.admin, body("reason", g.next())))

		// Approve and deny reasons (request.approved, request.denied).
		pending := newRequest(alice, "pay1")
		verb := "/approve"
		if i%2 == 1 {
			verb = "/deny"
		}
		try(verb+" reason", e.call(t, "POST", "/api/v1/requests/"+string(pending.ID)+verb, e.admin, body("reason", g.next())))

		// What an agent reports: an apply error (machine.apply_failed) and
		// its inventory (shown, not chained).
		try("ack error", auto.call(t, e, "POST", "/api/v1/agent/machines/"+string(auto.id)+"/ack", body("version", "0", "error", g.next())))
		sane := []any{"hostname", `"web1"`, "os", `"linux"`, "kernel", `"6.1"`, "agent_version", `"test"`, "firewall", `"nftables"`,
			"firewall_error", `""`, "addresses", `["10.0.0.1"]`, "listening", `[{"protocol":"tcp","port":22,"address":"0.0.0.0"}]`}
		inv := slices.Clone(sane)
		switch k := []int{1, 3, 5, 7, 11, 13, 15}[i%7]; k { // one random field at a time
		case 13:
			inv[k] = "[" + string(g.next()) + "]"
		case 15:
			inv[k] = `[{"protocol":"tcp","port":22,"address":` + string(g.next()) + `}]`
		default:
			inv[k] = g.next()
		}
		try("inventory", auto.call(t, e, "PUT", "/api/v1/agent/machines/"+string(auto.id)+"/inventory", body(inv...)))
		// A random OS or firewall error makes web1 Unsupported (requests
		// are then a 409): report a sane inventory again for the next round.
		if r := auto.call(t, e, "PUT", "/api/v1/agent/machines/"+string(auto.id)+"/inventory", body(sane...)); r.status >= 300 {
			t.Fatalf("sane inventory: status %d: %s", r.status, r.body)
		}

		// Names and other text in details.
		try("token name", e.call(t, "POST", "/api/v1/tokens", e.admin, body("name", g.next(), "role", `"reader"`)))
		try("binding subject", e.call(t, "POST", "/api/v1/bindings", e.admin, body("subject", rawJSON(`"user:`+strings.Trim(string(g.next()), `"`)+`"`), "role", `"reader"`)))
		try("label value", e.call(t, "PATCH", "/api/v1/machines/web1/labels", e.admin, body("set", `{"k":`+string(g.next())+`}`)))
		try("webhook url", e.call(t, "POST", "/api/v1/webhooks", e.admin, body("url", rawJSON(`"https://hooks.example.com/`+strings.Trim(string(g.next()), `"`)+`"`))))
	}
	t.Logf("accepted per field (of 40): %v", accepted)
	for _, f := range []string{"justification", "revoke reason", "ack error", "inventory"} {
		if accepted[f] == 0 {
			t.Errorf("no %s was accepted: the generator makes nothing valid", f)
		}
	}

	// Everything stored is clean text.
	for _, m := range e.snapshot(t).Machines {
		inv := m.Inventory
		for _, s := range append([]string{inv.Hostname, inv.OS, inv.Kernel, inv.AgentVersion, inv.FirewallError, m.ApplyError}, inv.Addresses...) {
			if err := d.CheckText("inventory", s, d.MaxEventText); err != nil {
				t.Errorf("machine %s stores unclean text %q: %v", m.Name, s, err)
			}
		}
	}
	stored := e.events(t, 0)
	for _, ev := range stored {
		for _, s := range []string{ev.Actor, ev.ActorName, ev.Target, ev.Reason, ev.Details} {
			if !utf8.ValidString(s) {
				t.Errorf("event %d holds invalid UTF-8: %q", ev.ID, s)
			}
		}
		if err := d.CheckText("reason", ev.Reason, d.MaxEventText); err != nil {
			t.Errorf("event %d (%s) has an unclean reason %q: %v", ev.ID, ev.Action, ev.Reason, err)
		}
	}

	// Export in both formats, read back and verify offline.
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			r := e.call(t, "GET", "/api/v1/events?format="+format, e.admin, nil)
			if r.status != http.StatusOK {
				t.Fatalf("export: status %d: %s", r.status, r.body)
			}
			read := audit.ReadJSONL
			if format == "csv" {
				read = audit.ReadCSV
			}
			v := audit.NewVerifier(nil)
			var got []d.Event
			if err := read(bytes.NewReader(r.body), func(ev *d.Event) error {
				got = append(got, *ev)
				v.Add(ev)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if rep := v.Finish(0, ""); !rep.OK {
				t.Fatalf("the %s export of an untampered log does not verify: %+v", format, rep.Problem)
			}
			if diff := cmp.Diff(stored, got); diff != "" {
				t.Errorf("the %s export differs from the store (-store +export):\n%s", format, diff)
			}
		})
	}
	rep, err := e.adminC.AuditVerify(t.Context(), nil)
	if err != nil || !rep.OK {
		t.Fatalf("server-side verify: %+v, %v", rep, err)
	}
}
