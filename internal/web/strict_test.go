package web_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	d "github.com/drawbridge/drawbridge"
)

// A client that sends its whole body before it reads the answer (as curl
// and most HTTP libraries do) and sends far more than the limit still reads
// the 413: the server reads and discards the rest instead of resetting the
// connection under the client's feet.
func TestTooLargeIsReadable(t *testing.T) {
	e := newEnv(t)
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"justification":"` + strings.Repeat("x", 16<<20) + `"}`
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: e.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /api/v1/requests HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", u.Host, e.admin, len(body))
	if _, err := io.WriteString(conn, head+body); err != nil {
		t.Fatalf("sending the body: %v (the server reset the connection)", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the 413 body: %v", err)
	}
	wantError(t, response{status: resp.StatusCode, header: resp.Header, body: b}, http.StatusRequestEntityTooLarge, d.TooLarge, "")
	if !resp.Close {
		t.Errorf("the 413 does not close the connection (Connection: %q)", resp.Header.Get("Connection"))
	}
}

// TestStrictInput: what encoding/json, strconv and url.Parse let through,
// and what the README says is refused, is a 400 naming the field.
func TestStrictInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enroll(t, "web1")
	e.policy(t, "web1", d.RuleInput{Port: 22})
	const req = "req_aaaaaaaaaaaaaaaaaaaa" // well-formed; input is checked before the lookup
	tests := []struct {
		name, method, path string
		body               any // string: sent as is
		status             int
		field              string
	}{
		// JSON that encoding/json would take.
		{"duplicate key", "POST", "/api/v1/requests", `{"justification":"a","justification":"b"}`, 400, "justification"},
		{"duplicate nested key", "POST", "/api/v1/requests", `{"targets":[{"machine":"web1","machine":"web2","ports":[{"port":22}]}]}`, 400, "targets[0].machine"},
		{"duplicate map key", "PATCH", "/api/v1/machines/web1/labels", `{"set":{"env":"dev","env":"prod"}}`, 400, "set.env"},
		{"field name in another case", "POST", "/api/v1/requests", `{"Justification":"x"}`, 400, "Justification"},
		{"nested field name in another case", "POST", "/api/v1/requests", `{"targets":[{"machine":"web1","ports":[{"Port":22}]}]}`, 400, "targets[0].ports[0].Port"},
		{"null body, requests", "POST", "/api/v1/requests", `null`, 400, ""},
		{"null body, policy", "PUT", "/api/v1/machines/web1/policy", `null`, 400, ""},
		{"null body, tokens", "POST", "/api/v1/tokens", `null`, 400, ""},
		{"null body, webhooks", "POST", "/api/v1/webhooks", `null`, 400, ""},
		{"null body, extend", "POST", "/api/v1/requests/" + req + "/extend", `null`, 400, ""},
		{"body is a string", "POST", "/api/v1/tokens", `"x"`, 400, ""},
		{"invalid UTF-8", "POST", "/api/v1/requests", "{\"justification\":\"caf\xc3\"}", 400, "justification"},
		{"invalid UTF-8 in a key", "POST", "/api/v1/requests", "{\"justification\xff\":\"x\"}", 400, ""},
		{"lone high surrogate", "POST", "/api/v1/requests", `{"justification":"a\ud800b"}`, 400, "justification"},
		{"lone low surrogate", "POST", "/api/v1/requests", `{"justification":"\udc00"}`, 400, "justification"},
		{"high surrogate at the end", "POST", "/api/v1/requests", `{"justification":"\ud83d"}`, 400, "justification"},
		{"surrogate pair is fine", "POST", "/api/v1/requests", `{"justification":"\ud83d\ude80"}`, 400, "targets"},
		{"escaped backslash then u is fine", "POST", "/api/v1/requests", `{"justification":"\\ud800"}`, 400, "targets"},
		{"wrong type, with indices", "POST", "/api/v1/requests", `{"targets":[{"machine":"web1","ports":[{"port":22},{"port":true}]}]}`, 400, "targets[0].ports[1].port"},

		// Fields the server sets.
		{"request id", "POST", "/api/v1/requests", `{"id":"req_x"}`, 400, "id"},
		{"request created_at", "POST", "/api/v1/requests", `{"created_at":"2025-01-01T00:00:00Z"}`, 400, "created_at"},
		{"request status", "POST", "/api/v1/requests", `{"status":"active"}`, 400, "status"},
		{"request requester", "POST", "/api/v1/requests", `{"requester":"token:tok_x"}`, 400, "requester"},
		{"role created_by", "POST", "/api/v1/roles", `{"name":"opener","actions":["machines/read"],"created_by":"system"}`, 400, "created_by"},
		{"role created_at", "POST", "/api/v1/roles", `{"name":"opener","actions":["machines/read"],"created_at":"2025-01-01T00:00:00Z"}`, 400, "created_at"},
		{"token created_by", "POST", "/api/v1/tokens", `{"name":"x","role":"reader","created_by":"system"}`, 400, "created_by"},
		{"webhook created_by", "POST", "/api/v1/webhooks", `{"url":"https://hooks.example.com/x","created_by":"system"}`, 400, "created_by"},
		{"webhook id", "POST", "/api/v1/webhooks", `{"url":"https://hooks.example.com/x","id":"whk_x"}`, 400, "id"},

		// Values.
		{"duration with a trailing dot", "POST", "/api/v1/requests", d.RequestInput{Targets: ports("web1", 22), Duration: "PT1.S"}, 400, "duration"},
		{"duration with a plus sign", "POST", "/api/v1/requests", d.RequestInput{Targets: ports("web1", 22), Duration: "+1h"}, 400, "duration"},
		{"ttl with a plus sign", "POST", "/api/v1/tokens", d.TokenInput{Name: "x", Role: d.RoleReader, TTL: "+1h"}, 400, "ttl"},
		{"extend by with a trailing dot", "POST", "/api/v1/requests/" + req + "/extend", d.ExtendInput{By: "PT1.S"}, 400, "by"},
		{"webhook port out of range", "POST", "/api/v1/webhooks", d.WebhookInput{URL: "https://hooks.example.com:99999/x"}, 400, "url"},
		{"webhook port zero", "POST", "/api/v1/webhooks", d.WebhookInput{URL: "https://hooks.example.com:0/x"}, 400, "url"},
		{"webhook URL with a bidi override", "POST", "/api/v1/webhooks", d.WebhookInput{URL: "https://hooks.example.com/\u202Ex"}, 400, "url"},
		{"binding subject with an escape", "POST", "/api/v1/bindings", d.BindingInput{Subject: "user:\x1b[2Jeve", Role: d.RoleReader}, 400, "subject"},
		{"binding subject with NUL", "POST", "/api/v1/bindings", d.BindingInput{Subject: "user:a\x00b", Role: d.RoleReader}, 400, "subject"},
		{"justification hint with a newline", "PUT", "/api/v1/machines/web1/policy", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Justification: &d.JustificationRule{Mode: d.JustificationRequired, Hint: "INC-1\nrm -rf"}}, 400, "justification.hint"},
		{"justification pattern with an escape", "PUT", "/api/v1/machines/web1/policy", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Justification: &d.JustificationRule{Mode: d.JustificationPattern, Pattern: "^\x1b"}}, 400, "justification.pattern"},
		{"approver with an escape", "PUT", "/api/v1/machines/web1/policy", d.PolicyInput{Rules: []d.RuleInput{{Port: 22}}, Approval: &d.ApprovalInput{Mode: d.ApprovalManual, Levels: []d.ApprovalLevel{{Approvers: []string{"user:a\x1b[2Jb"}}}}}, 400, "approval.levels[0].approvers[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			wantError(t, e.call(t, tt.method, tt.path, e.admin, tt.body), tt.status, d.Invalid, tt.field)
			e.wantUnchanged(t, before)
		})
	}
}

// TestReasonsValidated: every reason a person gives (revoke, approve, deny,
// extend) is checked as a justification is: escape codes, NUL, newlines and
// a megabyte never reach the audit chain.
func TestReasonsValidated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const req = "req_aaaaaaaaaaaaaaaaaaaa"
	bad := map[string]string{
		"escape":   "\x1b]0;pwned\x07\x1b[2J",
		"NUL":      "a\x00b",
		"newline":  "line one\nline two",
		"megabyte": strings.Repeat("x", 1_000_000),
		"bidi":     "ok\u202Egnp.exe",
	}
	routes := []struct {
		name, path string
		body       func(reason string) any
	}{
		{"revoke", "/revoke", func(s string) any { return d.RevokeInput{Reason: s} }},
		{"approve", "/approve", func(s string) any { return d.DecisionInput{Reason: s} }},
		{"deny", "/deny", func(s string) any { return d.DecisionInput{Reason: s} }},
		{"extend", "/extend", func(s string) any { return d.ExtendInput{By: "30m", Reason: s} }},
	}
	for _, rt := range routes {
		for name, reason := range bad {
			t.Run(rt.name+"/"+name, func(t *testing.T) {
				before := e.snapshot(t)
				got := wantError(t, e.call(t, "POST", "/api/v1/requests/"+req+rt.path, e.admin, rt.body(reason)), 400, d.Invalid, "reason")
				if len(got.Message) > 200 {
					t.Errorf("message is %d bytes long", len(got.Message))
				}
				e.wantUnchanged(t, before)
			})
		}
	}
}

// TestStrictQuery: every query parameter of a user route is known, given
// once, and well-formed; anything else is a 400 naming it.
func TestStrictQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, method, path, field string
	}{
		{"unknown parameter on deliveries", "GET", "/api/v1/webhook-deliveries?dead=maybe", "dead"},
		{"unknown delivery status", "GET", "/api/v1/webhook-deliveries?status=maybe", "status"},
		{"unknown parameter on requests", "GET", "/api/v1/requests?mine=true&stauts=open", "stauts"},
		{"unknown parameter on a route that takes none", "GET", "/api/v1/webhooks?all=true", "all"},
		{"unknown parameter on machines", "GET", "/api/v1/machines?colour=red", "colour"},
		{"unknown parameter on events", "GET", "/api/v1/events?actor=system", "actor"},
		{"unknown parameter on a POST", "POST", "/api/v1/requests?wiat=10s", "wiat"},
		{"bool maybe", "GET", "/api/v1/requests?mine=maybe", "mine"},
		{"bool 1", "GET", "/api/v1/requests?open=1", "open"},
		{"bool TRUE", "GET", "/api/v1/requests?awaiting=TRUE", "awaiting"},
		{"dry_run t", "POST", "/api/v1/requests?dry_run=t", "dry_run"},
		{"limit with a sign", "GET", "/api/v1/requests?limit=%2B5", "limit"},
		{"limit negative", "GET", "/api/v1/webhook-deliveries?limit=-1", "limit"},
		{"malformed request ID filter", "GET", "/api/v1/events?request=INC-42", "request"},
		{"malformed webhook ID filter", "GET", "/api/v1/webhook-deliveries?webhook=slack", "webhook"},
		{"unknown event format", "GET", "/api/v1/events?format=xml", "format"},
		{"query value with an escape", "GET", "/api/v1/requests?machine=%1b%5B2J", "machine"},
		{"query value not UTF-8", "GET", "/api/v1/events?user=%ff", "user"},
		{"parameter given twice", "GET", "/api/v1/events?format=csv&format=jsonl", "format"},
		{"wait with a plus sign", "GET", "/api/v1/requests/req_aaaaaaaaaaaaaaaaaaaa?wait=%2B1s", "wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.method == "POST" {
				body = d.RequestInput{}
			}
			wantError(t, e.call(t, tt.method, tt.path, e.admin, body), 400, d.Invalid, tt.field)
		})
	}
	t.Run("path not UTF-8", func(t *testing.T) {
		wantError(t, e.call(t, "GET", "/api/v1/machines/web%ff", e.admin, nil), 400, d.Invalid, "")
		wantError(t, e.call(t, "GET", "/api/v1/machines/web%00", e.admin, nil), 400, d.Invalid, "")
	})
	t.Run("known parameters pass", func(t *testing.T) {
		decode(t, e.call(t, "GET", "/api/v1/requests?mine=true&open=false&limit=5", e.admin, nil), 200, nil)
		decode(t, e.call(t, "GET", "/api/v1/webhook-deliveries?status=dead&limit=5", e.admin, nil), 200, nil)
	})
}

// TestErrorsEchoAShortPrefix: a huge bad value comes back, if at all, as a
// short excerpt.
func TestErrorsEchoAShortPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	huge := strings.Repeat("A", 100_000)
	calls := []struct {
		name, method, path string
		body               any
	}{
		{"query value", "GET", "/api/v1/requests?mine=" + huge, nil},
		{"query name", "GET", "/api/v1/requests?" + huge + "=1", nil},
		{"unknown field", "POST", "/api/v1/requests", `{"` + huge + `":1}`},
		{"machine name", "POST", "/api/v1/requests", d.RequestInput{Targets: ports(huge, 22)}},
		{"wrong type", "POST", "/api/v1/requests", `{"targets":[{"machine":"x","ports":[{"port":` + strings.Repeat("9", 100_000) + `}]}]}`},
		{"duration", "POST", "/api/v1/requests", d.RequestInput{Targets: ports("x", 22), Duration: huge}},
		{"source", "POST", "/api/v1/requests", d.RequestInput{Targets: ports("x", 22), Source: huge}},
		{"webhook event", "POST", "/api/v1/webhooks", d.WebhookInput{URL: "https://h.example.com/", Events: []d.NotificationKind{d.NotificationKind(huge)}}},
		{"binding subject", "POST", "/api/v1/bindings", d.BindingInput{Subject: "user:" + huge, Role: d.RoleReader}},
		{"no route", "GET", "/api/v1/" + huge, nil},
		{"request ID in the path", "POST", "/api/v1/requests/req_" + huge[:1500] + "/revoke", d.RevokeInput{}},
		{"request ID in the path, extend", "POST", "/api/v1/requests/req_" + huge[:1500] + "/extend", d.ExtendInput{By: "1m"}},
		{"path too long", "GET", "/api/v1/requests/req_" + huge, nil},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			r := e.call(t, c.method, c.path, e.admin, c.body)
			if r.status < 400 {
				t.Fatalf("status %d, want an error", r.status)
			}
			if len(r.body) > 600 || strings.Contains(string(r.body), strings.Repeat("A", 100)) || strings.Contains(string(r.body), strings.Repeat("9", 100)) {
				t.Errorf("error body echoes too much (%d bytes): %.300s", len(r.body), r.body)
			}
		})
	}
}

// TestWrongMethod: a path that exists with other methods answers 405 with
// Allow, as net/http's mux would without the /api/ catch-all.
func TestWrongMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		method, path, allow string
	}{
		{"PUT", "/api/v1/requests", "GET, HEAD, POST"},
		{"DELETE", "/api/v1/whoami", "GET, HEAD"},
		{"POST", "/api/v1/requests/req_aaaaaaaaaaaaaaaaaaaa", "GET, HEAD"},
		{"GET", "/api/v1/requests/req_aaaaaaaaaaaaaaaaaaaa/revoke", "POST"},
		{"PATCH", "/api/v1/events", "GET, HEAD"},
		{"POST", "/api/v1/machines/web1/policy", "GET, HEAD, PUT, DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e.call(t, tt.method, tt.path, e.admin, nil)
			wantError(t, r, http.StatusMethodNotAllowed, d.NotAllowed, "")
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
	wantError(t, e.call(t, "GET", "/api/v1/nope", e.admin, nil), http.StatusNotFound, d.NotFound, "")
}

// TestEmptyListsAreArrays: every list answers [] when empty, never null.
func TestEmptyListsAreArrays(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reader, _ := e.token(t, "reader", d.RoleReader)
	lists := map[string]string{
		"/api/v1/machines":           "machines",
		"/api/v1/policies":           "policies",
		"/api/v1/requests":           "requests",
		"/api/v1/approvals":          "requests",
		"/api/v1/selector-policies":  "policies",
		"/api/v1/bindings":           "bindings",
		"/api/v1/webhooks":           "webhooks",
		"/api/v1/webhook-deliveries": "deliveries",
		"/api/v1/events?after=999":   "events",
	}
	for path, key := range lists {
		t.Run(path, func(t *testing.T) {
			var out map[string]json.RawMessage
			decode(t, e.call(t, "GET", path, e.admin, nil), http.StatusOK, &out)
			if got := string(out[key]); got != "[]" {
				t.Errorf("%s: %q = %s, want []", path, key, got)
			}
		})
	}
	t.Run("whoami actions", func(t *testing.T) {
		var out map[string]json.RawMessage
		decode(t, e.call(t, "GET", "/api/v1/whoami", reader, nil), http.StatusOK, &out)
		if !strings.HasPrefix(string(out["actions"]), "[") {
			t.Errorf("actions = %s, want an array", out["actions"])
		}
	})
}

// TestQueryParamsDocumented: the query parameters each user and agent
// route takes (routes.go) are exactly those openapi.json documents.
func TestQueryParamsDocumented(t *testing.T) {
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	served := map[string][]string{}
	for _, m := range regexp.MustCompile(`m\.HandleFunc\("([A-Z]+) ([^"]+)", s\.(?:user|agent)\(s\.\w+((?:, "[^"]+")*)\)\)`).FindAllStringSubmatch(string(src), -1) {
		key := strings.ToLower(m[1]) + " " + m[2]
		served[key] = []string{}
		for _, p := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(m[3], -1) {
			served[key] = append(served[key], p[1])
		}
	}
	if len(served) < 20 {
		t.Fatalf("found only %d user and agent routes in routes.go; has the registration style changed?", len(served))
	}
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	type param struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]param `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for key, want := range served {
		method, path, _ := strings.Cut(key, " ")
		var op struct {
			Parameters []param `json:"parameters"`
		}
		if err := json.Unmarshal(doc.Paths[path][method], &op); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		var got []string
		for _, p := range op.Parameters {
			if p.Ref != "" {
				p = doc.Components.Parameters[p.Ref[strings.LastIndex(p.Ref, "/")+1:]]
			}
			if p.In == "query" {
				got = append(got, p.Name)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s takes query parameters %q in routes.go, but openapi.json documents %q", strings.ToUpper(key), want, got)
		}
	}
}
