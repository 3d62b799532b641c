package web_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// TestOpenAPIDescribesEveryRoute reads the patterns routes.go registers and
// checks that the served OpenAPI document has each path and method, and
// nothing the server does not serve.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	type route struct{ method, path string }
	var routes []route
	for _, m := range regexp.MustCompile(`m\.Handle(?:Func)?\("([A-Z]+) ([^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		routes = append(routes, route{strings.ToLower(m[1]), m[2]})
	}
	if len(routes) < 20 {
		t.Fatalf("found only %d routes in routes.go; has the registration style changed?", len(routes))
	}

	e := newEnv(t)
	r := e.call(t, "GET", "/api/v1/openapi.json", "", nil)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	decode(t, r, http.StatusOK, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	for _, rt := range routes {
		if _, ok := doc.Paths[rt.path][rt.method]; !ok {
			t.Errorf("route %s %s is not in openapi.json", strings.ToUpper(rt.method), rt.path)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || strings.HasPrefix(method, "x-") {
				continue
			}
			if !slices.Contains(routes, route{method, path}) {
				t.Errorf("openapi.json describes %s %s, which routes.go does not serve", strings.ToUpper(method), path)
			}
		}
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	expiring, _, err := e.adminC.TokenCreate(t.Context(), d.TokenInput{Name: "short", Role: d.RoleReader, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	revoked, revokedID := e.token(t, "gone", d.RoleReader)
	if _, err := e.adminC.TokenRevoke(t.Context(), revokedID, false); err != nil {
		t.Fatal(err)
	}
	// Still usable before the clock moves: the expiry case below is the clock's doing.
	decode(t, e.call(t, "GET", "/api/v1/whoami", expiring, nil), http.StatusOK, nil)
	e.clock.Advance(time.Hour)
	id, _, _ := strings.Cut(e.admin, ".")

	tests := []struct {
		name   string
		header string // the whole Authorization header; "" sends none
	}{
		{"no header", ""},
		{"basic scheme", "Basic YWRtaW46YWRtaW4="},
		{"bearer without token", "Bearer"},
		{"malformed token", "Bearer not-a-token"},
		{"join token prefix", "Bearer jtk_aaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
		{"unknown token", "Bearer tok_aaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
		{"wrong secret", "Bearer " + id + ".bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
		{"expired token", "Bearer " + expiring},
		{"revoked token", "Bearer " + revoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/whoami", "/api/v1/requests"} {
				req := e.newRequest(t, "GET", path, "", nil)
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				wantError(t, send(t, e.hc, req), http.StatusUnauthorized, d.Unauthenticated, "")
			}
		})
	}

	t.Run("admin token works", func(t *testing.T) {
		var who struct {
			Actor d.Actor `json:"actor"`
		}
		decode(t, e.call(t, "GET", "/api/v1/whoami", e.admin, nil), http.StatusOK, &who)
		if who.Actor.Role != d.RoleAdmin || who.Actor.Kind != d.ActorToken {
			t.Errorf("whoami = %+v, want an admin token", who.Actor)
		}
	})
	t.Run("public routes need nothing", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"} {
			if r := e.call(t, "GET", path, "", nil); r.status != http.StatusOK {
				t.Errorf("GET %s = %d, want 200", path, r.status)
			}
		}
	})
	t.Run("unknown API path is a JSON 404", func(t *testing.T) {
		wantError(t, e.call(t, "GET", "/api/v1/nope", e.admin, nil), http.StatusNotFound, d.NotFound, "")
	})
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.enroll(t, "web1")
	e.policy(t, m.name, d.RuleInput{Port: 22})
	requester, _ := e.token(t, "alice", d.RoleRequester)
	other, _ := e.token(t, "bob", d.RoleRequester)
	reader, _ := e.token(t, "rita", d.RoleReader)
	policyAdmin, _ := e.token(t, "pat", d.RolePolicyAdmin)

	aliceReq := e.request(t, requester, d.RequestInput{Targets: ports(m.name, 22)})
	bobReq := e.request(t, other, d.RequestInput{Targets: ports(m.name, 22)})

	forbidden := []struct {
		name, token, method, path string
		body                      any
	}{
		{"requester sets policy", requester, "PUT", "/api/v1/machines/web1/policy", d.PolicyInput{Rules: []d.RuleInput{{Port: 80}}}},
		{"requester disables policy", requester, "POST", "/api/v1/machines/web1/policy/disable", nil},
		{"requester creates token", requester, "POST", "/api/v1/tokens", d.TokenInput{Name: "x", Role: d.RoleAdmin}},
		{"requester lists tokens", requester, "GET", "/api/v1/tokens", nil},
		{"requester creates join token", requester, "POST", "/api/v1/join-tokens", d.JoinTokenInput{}},
		{"requester reads audit", requester, "GET", "/api/v1/events", nil},
		{"reader requests access", reader, "POST", "/api/v1/requests", d.RequestInput{Targets: ports(m.name, 22)}},
		{"reader sets policy", reader, "PUT", "/api/v1/machines/web1/policy", d.PolicyInput{Rules: []d.RuleInput{{Port: 80}}}},
		{"reader revokes another's request", reader, "POST", "/api/v1/requests/" + string(aliceReq.ID) + "/revoke", d.RevokeInput{}},
		{"policy-admin creates token", policyAdmin, "POST", "/api/v1/tokens", d.TokenInput{Name: "x", Role: d.RoleAdmin}},
		{"policy-admin revokes token", policyAdmin, "DELETE", "/api/v1/tokens/tok_aaaaaaaaaaaaaaaa", nil},
	}
	for _, tt := range forbidden {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			wantError(t, e.call(t, tt.method, tt.path, tt.token, tt.body), http.StatusForbidden, d.Forbidden, "")
			e.wantUnchanged(t, before)
		})
	}

	t.Run("requester lists only its own requests", func(t *testing.T) {
		for _, q := range []string{"", "?mine=false", "?machine=web1"} {
			var out struct{ Requests []d.Request }
			decode(t, e.call(t, "GET", "/api/v1/requests"+q, requester, nil), http.StatusOK, &out)
			if len(out.Requests) != 1 || out.Requests[0].ID != aliceReq.ID {
				t.Errorf("requester listing%s = %v, want only %s", q, requestIDs(out.Requests), aliceReq.ID)
			}
		}
		var all struct{ Requests []d.Request }
		decode(t, e.call(t, "GET", "/api/v1/requests", reader, nil), http.StatusOK, &all)
		if len(all.Requests) != 2 {
			t.Errorf("reader listing = %v, want both requests", requestIDs(all.Requests))
		}
	})

	t.Run("requester cannot see or revoke another's request", func(t *testing.T) {
		// Not visible means not found, for reading and revoking alike: no
		// existence oracle.
		before := e.snapshot(t)
		wantError(t, e.call(t, "GET", "/api/v1/requests/"+string(bobReq.ID), requester, nil), http.StatusNotFound, d.NotFound, "")
		wantError(t, e.call(t, "GET", "/api/v1/requests/"+string(bobReq.ID)+"?wait=1s", requester, nil), http.StatusNotFound, d.NotFound, "")
		wantError(t, e.call(t, "POST", "/api/v1/requests/"+string(bobReq.ID)+"/revoke", requester, d.RevokeInput{}), http.StatusNotFound, d.NotFound, "")
		e.wantUnchanged(t, before)
	})

	t.Run("requester revokes its own request", func(t *testing.T) {
		var r d.Request
		decode(t, e.call(t, "POST", "/api/v1/requests/"+string(aliceReq.ID)+"/revoke", requester, d.RevokeInput{}), http.StatusOK, &r)
		if r.Status != d.StatusRevoked {
			t.Errorf("status = %s, want revoked", r.Status)
		}
	})

	t.Run("policy-admin revokes anyone's request", func(t *testing.T) {
		var r d.Request
		decode(t, e.call(t, "POST", "/api/v1/requests/"+string(bobReq.ID)+"/revoke", policyAdmin, d.RevokeInput{Reason: "incident 42"}), http.StatusOK, &r)
		if r.Status != d.StatusRevoked || r.Targets[0].Reason != "incident 42" {
			t.Errorf("request = %s (%q), want revoked with the reason", r.Status, r.Targets[0].Reason)
		}
		es := e.events(t, 0)
		last := es[len(es)-1]
		if last.Action != d.EvRequestRevoked || !strings.HasPrefix(last.Actor, "token:") || last.ActorName != "pat" || last.Target != string(bobReq.ID) {
			t.Errorf("last event = %+v, want request.revoked by pat", last)
		}
	})
}

func requestIDs(rs []d.Request) []d.RequestID {
	var ids []d.RequestID
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}
