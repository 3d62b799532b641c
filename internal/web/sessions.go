package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/oidc"
)

// Cookies of the browser sign-in.
const (
	// sessionCookie carries a Drawbridge session token; the web layer
	// accepts it in place of the Authorization header.
	sessionCookie = "drawbridge_session"
	// loginCookie carries the state, nonce and PKCE verifier of a sign-in
	// in progress, signed so that no one else can plant one.
	loginCookie = "drawbridge_login"
	loginTTL    = 10 * time.Minute
)

// signIn is the server's OIDC sign-in state. A nil verifier means OIDC is off.
type signIn struct {
	verifier *oidc.Verifier
	key      []byte // HMAC key of the login cookie
	csrf     *http.CrossOriginProtection
}

func newSignIn(o Options) *signIn {
	key := o.CookieKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand)
	}
	return &signIn{verifier: o.OIDC, key: key, csrf: http.NewCrossOriginProtection()}
}

// oidcOff is the error for the OIDC routes when no issuer is configured.
func (si *signIn) enabled() error {
	if si.verifier == nil {
		return &d.Error{Kind: d.NotFound, Message: "OIDC sign-in is not enabled on this server (start it with --oidc-issuer and --oidc-client-id); use an API token"}
	}
	return nil
}

// credential returns the token a request presents: the bearer token, or
// else the session cookie (checked against CSRF), and whether it was the cookie.
func (s *Server) credential(r *http.Request) (string, bool, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false, &d.Error{Kind: d.Unauthenticated, Message: "Authorization header must be \"Bearer <token>\""}
		}
		return strings.TrimSpace(tok), false, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", false, &d.Error{Kind: d.Unauthenticated, Message: "missing Authorization: Bearer <token> header or session cookie"}
	}
	if err := s.signIn.csrf.Check(r); err != nil {
		return "", true, &d.Error{Kind: d.Forbidden, Message: "cross-origin request refused: a session cookie only works from this server's own pages", Err: err}
	}
	return c.Value, true, nil
}

// handleAuthConfig tells clients how to sign in.
func (s *Server) handleAuthConfig(w http.ResponseWriter, r *http.Request) error {
	out := d.AuthConfig{}
	if v := s.signIn.verifier; v != nil {
		c := v.Config()
		out = d.AuthConfig{OIDC: true, Issuer: c.Issuer, ClientID: c.ClientID, Scopes: c.Scopes}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleAuthTokenExchange exchanges an ID token from the configured issuer
// (got by the CLI's own sign-in) for a Drawbridge session token.
func (s *Server) handleAuthTokenExchange(w http.ResponseWriter, r *http.Request) error {
	if err := s.signIn.enabled(); err != nil {
		return err
	}
	var in d.SessionInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ident, err := s.signIn.verifier.Verify(r.Context(), in.IDToken)
	if err != nil {
		return err
	}
	secret, tok, err := s.svc.SessionCreate(r.Context(), ident, s.clientAddr(r).String(), s.signIn.verifier.Config().SessionTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d.Session{Token: secret, ExpiresAt: tok.ExpiresAt, User: tok.User, Groups: tok.Groups})
	return nil
}

// loginState is what the login cookie carries between /auth/login and
// /auth/callback.
type loginState struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"` // PKCE code verifier
	Next     string    `json:"r"` // where to go after signing in
	Expires  time.Time `json:"e"`
}

// handleAuthLogin starts the browser sign-in: authorization code with PKCE
// (S256), a random state and nonce kept in a signed, HttpOnly cookie.
func (s *Server) handleAuthLogin(w http.ResponseWriter, r *http.Request) error {
	if err := s.signIn.enabled(); err != nil {
		return err
	}
	oc, err := s.signIn.verifier.OAuth2(r.Context(), callbackURL(r))
	if err != nil {
		return err
	}
	ls := loginState{State: d.RandomString(32), Nonce: d.RandomString(32), Verifier: oauth2.GenerateVerifier(), Next: safeNext(r.URL.Query().Get("next")), Expires: time.Now().Add(loginTTL)}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: s.signIn.seal(ls), Path: "/auth/", MaxAge: int(loginTTL / time.Second), HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, oc.AuthCodeURL(ls.State, oauth2.S256ChallengeOption(ls.Verifier), gooidc.Nonce(ls.Nonce)), http.StatusFound)
	return nil
}

// handleAuthCallback finishes the browser sign-in: it checks the state,
// redeems the code with the PKCE verifier, verifies the ID token and its
// nonce, creates a session and sets the session cookie.
func (s *Server) handleAuthCallback(w http.ResponseWriter, r *http.Request) error {
	if err := s.signIn.enabled(); err != nil {
		return err
	}
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return &d.Error{Kind: d.Unauthenticated, Message: "no sign-in in progress in this browser (or it took longer than 10 minutes); start again at /auth/login"}
	}
	// The login cookie is for one use only.
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/auth/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	ls, ok := s.signIn.open(c.Value, time.Now())
	if !ok {
		return &d.Error{Kind: d.Unauthenticated, Message: "the sign-in cookie is invalid or expired; start again at /auth/login"}
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(ls.State)) != 1 {
		return &d.Error{Kind: d.Unauthenticated, Message: "the sign-in response does not match this browser's sign-in (state mismatch); start again at /auth/login"}
	}
	if e := q.Get("error"); e != "" {
		return &d.Error{Kind: d.Unauthenticated, Message: "the identity provider refused the sign-in: " + e}
	}
	if q.Get("code") == "" {
		return &d.Error{Kind: d.Unauthenticated, Message: "the identity provider sent no authorization code"}
	}
	v := s.signIn.verifier
	oc, err := v.OAuth2(r.Context(), callbackURL(r))
	if err != nil {
		return err
	}
	raw, err := v.Exchange(r.Context(), oc, q.Get("code"), ls.Verifier)
	if err != nil {
		return err
	}
	ident, err := v.VerifyNonce(r.Context(), raw, ls.Nonce)
	if err != nil {
		return err
	}
	secret, tok, err := s.svc.SessionCreate(r.Context(), ident, s.clientAddr(r).String(), v.Config().SessionTTL)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", MaxAge: int(tok.ExpiresAt.Sub(tok.CreatedAt) / time.Second), HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, ls.Next, http.StatusFound)
	return nil
}

// handleAuthLogout ends the session presented (cookie or bearer) and
// clears the session cookie. API tokens are not ended this way.
func (s *Server) handleAuthLogout(w http.ResponseWriter, r *http.Request) error {
	secret, cookie, err := s.credential(r)
	if err != nil {
		return err
	}
	if cookie {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	}
	a, err := s.svc.Authenticate(r.Context(), secret, s.clientAddr(r))
	if err != nil {
		return err
	}
	if err := s.svc.SessionEnd(r.Context(), secret, a); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// callbackURL is where the issuer sends the browser back: this server, as
// the browser reached it. The issuer accepts only registered redirect URLs,
// so a forged Host header leads nowhere.
func callbackURL(r *http.Request) string {
	return "https://" + r.Host + "/auth/callback"
}

// safeNext keeps a post-sign-in redirect on this server: a local path only.
//
// Browsers drop tabs and newlines from URLs and treat '\' as '/', so any
// control character or backslash is refused outright; the rest must parse
// as a path with no scheme and no host.
func safeNext(next string) string {
	for _, c := range next {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	return next
}

// seal encodes ls as base64(json) "." base64(HMAC-SHA256).
func (si *signIn) seal(ls loginState) string {
	b, _ := json.Marshal(ls) // plain strings and a time: cannot fail
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(si.mac(p))
}

// open checks a sealed login state's signature and expiry.
func (si *signIn) open(v string, now time.Time) (loginState, bool) {
	var ls loginState
	p, sig, ok := strings.Cut(v, ".")
	if !ok {
		return ls, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, si.mac(p)) {
		return ls, false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(b, &ls) != nil || !now.Before(ls.Expires) || ls.State == "" || ls.Nonce == "" {
		return ls, false
	}
	return ls, true
}

func (si *signIn) mac(payload string) []byte {
	h := hmac.New(sha256.New, si.key)
	h.Write([]byte(loginCookie + "\x00" + payload))
	return h.Sum(nil)
}
