package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/app"
	"github.com/drawbridge/drawbridge/internal/oidc"
	"github.com/drawbridge/drawbridge/internal/oidc/oidctest"
	"github.com/drawbridge/drawbridge/internal/store"
)

const testClientID = "drawbridge-test"

// withOIDC turns on OIDC sign-in against iss.
func withOIDC(t *testing.T, iss *oidctest.Issuer) envOption {
	v, err := oidc.New(oidc.Config{Issuer: iss.URL, ClientID: testClientID}, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *app.Config) { c.OIDC = v }
}

// bind gives subject role everywhere, straight in the store.
func (e *testEnv) bind(t *testing.T, subject string, role d.Role) {
	t.Helper()
	err := e.db.Tx(t.Context(), func(tx *store.Tx) error {
		return tx.BindingCreate(&d.Binding{ID: d.BindingPrefix + d.RandomString(12), Subject: subject, Role: role, Scope: d.ScopeAll, CreatedAt: e.clock.Now(), CreatedBy: "test"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// signIn exchanges idToken and returns the response.
func (e *testEnv) signIn(t *testing.T, idToken string) response {
	t.Helper()
	return e.call(t, "POST", "/api/v1/auth/oidc/token", "", d.SessionInput{IDToken: idToken})
}

type whoami struct {
	Actor   d.Actor    `json:"actor"`
	Actions []d.Action `json:"actions"`
}

func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, testClientID)
	e := newEnv(t, withOIDC(t, iss))
	e.bind(t, "user:alice@example.com", d.RoleRequester)

	var cfg d.AuthConfig
	decode(t, e.call(t, "GET", "/api/v1/auth/config", "", nil), http.StatusOK, &cfg)
	want := d.AuthConfig{OIDC: true, Issuer: iss.URL, ClientID: testClientID, Scopes: oidc.DefaultScopes}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("auth config (-want +got):\n%s", diff)
	}

	before := e.lastEventID(t)
	var s d.Session
	decode(t, e.signIn(t, iss.IDToken(iss.Claims(map[string]any{"email": "alice@example.com", "groups": []string{"dev", "ops"}}))), http.StatusCreated, &s)
	if s.User != "alice@example.com" || !slices.Equal(s.Groups, []string{"dev", "ops"}) || s.Token == "" {
		t.Fatalf("session = %+v", s)
	}
	if ttl := s.ExpiresAt.Sub(e.clock.Now()); ttl != oidc.DefaultSessionTTL {
		t.Errorf("session lasts %s, want %s", ttl, oidc.DefaultSessionTTL)
	}

	var who whoami
	decode(t, e.call(t, "GET", "/api/v1/whoami", s.Token, nil), http.StatusOK, &who)
	if who.Actor.Kind != d.ActorUser || who.Actor.Name != "alice@example.com" || !slices.Equal(who.Actor.Groups, []string{"dev", "ops"}) {
		t.Errorf("whoami actor = %+v", who.Actor)
	}
	if diff := cmp.Diff([]d.RoleGrant{{Role: d.RoleRequester, Actions: d.RoleRequester.Actions(), Scope: d.ScopeAll}}, who.Actor.RoleGrants); diff != "" {
		t.Errorf("grants (-want +got):\n%s", diff)
	}
	if !slices.Contains(who.Actions, d.ActRequestsInitiate) || slices.Contains(who.Actions, d.ActAdmin) {
		t.Errorf("whoami actions = %v, want a requester's", who.Actions)
	}
	// The session works on API calls, with the requester's rights only.
	decode(t, e.call(t, "GET", "/api/v1/machines", s.Token, nil), http.StatusOK, nil)
	wantError(t, e.call(t, "POST", "/api/v1/tokens", s.Token, d.TokenInput{Name: "x", Role: d.RoleAdmin}), http.StatusForbidden, d.Forbidden, "")

	got := auditLines(e.events(t, before))
	if !slices.Contains(got, auditLine{"user:alice@example.com", d.EvSignIn, "user:alice@example.com", d.ResultSuccess}) {
		t.Errorf("no successful sign-in event in %+v", got)
	}

	// The token never appears in the server log.
	if strings.Contains(e.log.String(), s.Token) {
		t.Error("the session token is in the server log")
	}
}

func TestOIDCRejects(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, testClientID)
	e := newEnv(t, withOIDC(t, iss))
	e.bind(t, "user:alice@example.com", d.RoleRequester)
	alice := map[string]any{"email": "alice@example.com"}
	with := func(k string, v any) map[string]any {
		c := iss.Claims(alice)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	stranger := oidctest.NewKey(t)
	tests := []struct {
		name  string
		token string
		want  string // in the message
	}{
		{"wrong audience", iss.IDToken(with("aud", "another-app")), "audience"},
		{"wrong issuer", iss.IDToken(with("iss", "https://evil.example.com")), "another issuer"},
		{"expired", iss.IDToken(with("exp", time.Now().Add(-time.Minute).Unix())), "expired"},
		{"not yet valid", iss.IDToken(with("nbf", time.Now().Add(time.Hour).Unix())), "not valid yet"},
		{"unknown signing key", stranger.Sign(t, iss.Claims(alice)), "signature"},
		{"no user claim", iss.IDToken(with("email", nil)), `"email" claim`},
		{"email not verified", iss.IDToken(with("email_verified", false)), "not verified"},
		{"email_verified missing", iss.IDToken(with("email_verified", nil)), "not verified"},
		{"user with control characters", iss.IDToken(with("email", "alice@example.com\x1b[2J")), "no usable user"},
		{"malformed", "not.a.jwt", "well-formed"},
		{"empty", "", "no ID token"},
	}
	before := e.snapshot(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.signIn(t, tt.token)
			field := ""
			if tt.name == "empty" {
				field = "id_token"
			}
			got := wantError(t, r, http.StatusUnauthorized, d.Unauthenticated, field)
			if !strings.Contains(got.Message, tt.want) {
				t.Errorf("message %q does not say %q", got.Message, tt.want)
			}
			if tt.token != "" && strings.Contains(e.log.String(), tt.token) {
				t.Error("the ID token is in the server log")
			}
		})
	}
	e.wantUnchanged(t, before)
}

func TestOIDCKeyRotation(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, testClientID)
	e := newEnv(t, withOIDC(t, iss))
	e.bind(t, "user:alice@example.com", d.RoleRequester)
	alice := map[string]any{"email": "alice@example.com"}

	old := iss.IDToken(iss.Claims(alice))
	decode(t, e.signIn(t, old), http.StatusCreated, nil)
	fetches := iss.JWKSFetches()

	iss.Rotate()
	decode(t, e.signIn(t, iss.IDToken(iss.Claims(alice))), http.StatusCreated, nil)
	if iss.JWKSFetches() == fetches {
		t.Error("a token with a new key ID did not make the server fetch the keys again")
	}
	// The old key is no longer published, so its tokens stop working.
	wantError(t, e.signIn(t, old), http.StatusUnauthorized, d.Unauthenticated, "")
}

func TestOIDCUnknownUser(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, testClientID)
	e := newEnv(t, withOIDC(t, iss))
	e.bind(t, "group:ops", d.RoleReader)

	before := e.lastEventID(t)
	r := e.signIn(t, iss.IDToken(iss.Claims(map[string]any{"email": "bob@example.com", "groups": []string{"dev"}})))
	if got := wantError(t, r, http.StatusForbidden, d.Forbidden, ""); !strings.Contains(got.Message, "unknown user bob@example.com") {
		t.Errorf("message = %q", got.Message)
	}
	want := []auditLine{{"user:bob@example.com", d.EvSignIn, "user:bob@example.com", d.ResultFailure}}
	if diff := cmp.Diff(want, auditLines(e.events(t, before))); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	for _, tok := range e.snapshot(t).Tokens {
		if tok.Kind == d.TokenSession {
			t.Errorf("a session was created for an unknown user: %+v", tok)
		}
	}
}

func TestOIDCGroupBinding(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, testClientID)
	e := newEnv(t, withOIDC(t, iss))
	e.bind(t, "group:ops", d.RoleAdmin)

	var s d.Session
	decode(t, e.signIn(t, iss.IDToken(iss.Claims(map[string]any{"email": "carol@example.com", "groups": []string{"ops"}}))), http.StatusCreated, &s)
	var who whoami
	decode(t, e.call(t, "GET", "/api/v1/whoami", s.Token, nil), http.StatusOK, &who)
	if len(who.Actor.RoleGrants) != 1 || who.Actor.RoleGrants[0].Role != d.RoleAdmin || !slices.Contains(who.Actions, d.ActAdmin) {
		t.Errorf("whoami = %+v, want the admin grant of group ops", who)
	}
	decode(t, e.call(t, "POST", "/api/v1/tokens", s.Token, d.TokenInput{Name: "ci", Role: d.RoleReader}), http.StatusCreated, nil)
}

func TestOIDCDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var cfg d.AuthConfig
	decode(t, e.call(t, "GET", "/api/v1/auth/config", "", nil), http.StatusOK, &cfg)
	if cfg.OIDC {
		t.Errorf("auth config = %+v, want OIDC off", cfg)
	}
	wantError(t, e.signIn(t, "a.b.c"), http.StatusNotFound, d.NotFound, "")
	wantError(t, e.call(t, "GET", "/auth/login", "", nil), http.StatusNotFound, d.NotFound, "")
}

// TestOIDCBrowserFlow signs in as a browser does: login → issuer → callback
// → session cookie, then uses the cookie, checks CSRF protection, and
// signs out.
func TestOIDCBrowserFlow(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, testClientID)
	e := newEnv(t, withOIDC(t, iss))
	e.bind(t, "user:alice@example.com", d.RoleAdmin)

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Transport: e.hc.Transport, Jar: jar}
	var hops []string
	browser.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		hops = append(hops, req.URL.Host+req.URL.Path)
		return nil
	}
	r := send(t, browser, e.newRequest(t, "GET", "/auth/login?next=/api/v1/whoami", "", nil))
	var who whoami
	decode(t, r, http.StatusOK, &who) // the callback redirected to next, with the cookie
	srvURL, _ := url.Parse(e.url)
	issURL, _ := url.Parse(iss.URL)
	wantHops := []string{issURL.Host + "/authorize", srvURL.Host + "/auth/callback", srvURL.Host + "/api/v1/whoami"}
	if diff := cmp.Diff(wantHops, hops); diff != "" {
		t.Errorf("redirects (-want +got):\n%s", diff)
	}
	if who.Actor.Name != "alice@example.com" || who.Actor.Kind != d.ActorUser {
		t.Errorf("whoami with the cookie = %+v", who.Actor)
	}
	var session *http.Cookie
	for _, c := range jar.Cookies(srvURL) {
		switch c.Name {
		case "drawbridge_session":
			session = c
		case "drawbridge_login":
			t.Errorf("the login cookie outlived the callback")
		}
	}
	if session == nil {
		t.Fatal("no drawbridge_session cookie")
	}

	// The cookie's attributes, as the callback set them.
	noFollow := &http.Client{Transport: e.hc.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r = send(t, noFollow, e.newRequest(t, "GET", "/auth/login", "", nil))
	if r.status != http.StatusFound {
		t.Fatalf("/auth/login answered %d", r.status)
	}
	lc := r.header.Get("Set-Cookie")
	for _, attr := range []string{"drawbridge_login=", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(lc, attr) {
			t.Errorf("login cookie %q lacks %s", lc, attr)
		}
	}
	authURL, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := authURL.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Errorf("authorization URL lacks PKCE, nonce or state: %s", authURL.Redacted())
	}
	// Follow it by hand to see the session cookie's attributes.
	r2, err := noFollow.Get(authURL.String())
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	cb := e.newRequest(t, "GET", strings.TrimPrefix(r2.Header.Get("Location"), e.url), "", nil)
	cb.Header.Set("Cookie", strings.SplitN(lc, ";", 2)[0])
	r = send(t, noFollow, cb)
	if r.status != http.StatusFound || r.header.Get("Location") != "/" {
		t.Fatalf("callback answered %d to %q; body %s", r.status, r.header.Get("Location"), r.body)
	}
	var sc string
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "drawbridge_session=") {
			sc = c
		}
	}
	for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age="} {
		if !strings.Contains(sc, attr) {
			t.Errorf("session cookie %q lacks %s", sc, attr)
		}
	}
	// The callback is for one use: replaying it fails.
	wantError(t, send(t, noFollow, cb), http.StatusUnauthorized, d.Unauthenticated, "")

	// A state-changing call with the cookie: allowed from the same origin…
	post := func(headers map[string]string, bearer string) response {
		req := e.newRequest(t, "POST", "/api/v1/tokens", bearer, d.TokenInput{Name: "from-browser", Role: d.RoleReader})
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		return send(t, browser, req)
	}
	decode(t, post(map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": e.url}, ""), http.StatusCreated, nil)
	decode(t, post(nil, ""), http.StatusCreated, nil) // a non-browser client sends neither header
	// …refused from another origin…
	before := e.snapshot(t)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example.com"},
	} {
		got := wantError(t, post(h, ""), http.StatusForbidden, d.Forbidden, "")
		if !strings.Contains(got.Message, "cross-origin") {
			t.Errorf("CSRF refusal says %q", got.Message)
		}
	}
	e.wantUnchanged(t, before)
	// …while bearer-token calls are unaffected, whatever their origin.
	decode(t, post(map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example.com"}, e.admin), http.StatusCreated, nil)
	// Reads with the cookie are fine cross-origin (safe methods).
	req := e.newRequest(t, "GET", "/api/v1/whoami", "", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	decode(t, send(t, browser, req), http.StatusOK, nil)

	// Logout: cross-origin refused; same origin revokes the session and clears the cookie.
	req = e.newRequest(t, "POST", "/auth/logout", "", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantError(t, send(t, browser, req), http.StatusForbidden, d.Forbidden, "")
	r = send(t, browser, e.newRequest(t, "POST", "/auth/logout", "", nil))
	if r.status != http.StatusNoContent {
		t.Fatalf("logout answered %d: %s", r.status, r.body)
	}
	for _, c := range jar.Cookies(srvURL) {
		if c.Name == "drawbridge_session" {
			t.Error("the session cookie survived logout")
		}
	}
	wantError(t, e.call(t, "GET", "/api/v1/whoami", session.Value, nil), http.StatusUnauthorized, d.Unauthenticated, "")
	// API tokens do not sign out.
	wantError(t, e.call(t, "POST", "/auth/logout", e.admin, nil), http.StatusBadRequest, d.Invalid, "")
}

func TestOIDCCallbackRejects(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, testClientID)
	e := newEnv(t, withOIDC(t, iss))
	noFollow := &http.Client{Transport: e.hc.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// No login cookie.
	wantError(t, e.call(t, "GET", "/auth/callback?code=x&state=y", "", nil), http.StatusUnauthorized, d.Unauthenticated, "")

	r := send(t, noFollow, e.newRequest(t, "GET", "/auth/login", "", nil))
	cookie := strings.SplitN(r.header.Get("Set-Cookie"), ";", 2)[0]
	callback := func(query, cookie string) response {
		req := e.newRequest(t, "GET", "/auth/callback?"+query, "", nil)
		req.Header.Set("Cookie", cookie)
		return send(t, noFollow, req)
	}
	// A state that is not this browser's.
	if got := wantError(t, callback("code=x&state=forged", cookie), http.StatusUnauthorized, d.Unauthenticated, ""); !strings.Contains(got.Message, "state") {
		t.Errorf("message = %q", got.Message)
	}
	// A tampered cookie.
	name, val, _ := strings.Cut(cookie, "=")
	tampered := name + "=" + "x" + val[1:]
	if got := wantError(t, callback("code=x&state=y", tampered), http.StatusUnauthorized, d.Unauthenticated, ""); !strings.Contains(got.Message, "cookie") {
		t.Errorf("message = %q", got.Message)
	}
	// The login redirects only to local paths.
	r = send(t, noFollow, e.newRequest(t, "GET", "/auth/login?next=//evil.example.com/", "", nil))
	if r.status != http.StatusFound {
		t.Fatalf("login answered %d", r.status)
	}
}
