// Package oidc verifies OpenID Connect ID tokens from the one issuer the
// server is configured to trust, and maps their claims to a
// drawbridge.Identity (user and groups).
//
// Discovery is lazy: the issuer's discovery document is fetched on first
// use and kept, so the server starts (and API tokens keep working) while the
// identity provider is down. Signing keys come from the issuer's JWKS and are
// re-fetched when a token names a key not seen before, which is how key
// rotation reaches the server.
//
// Nothing here logs: errors carry a message safe for the caller and, in
// Err, the cause for the server log. Neither ever contains the token.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	d "github.com/drawbridge/drawbridge"
)

// Defaults for Config.
const (
	DefaultUserClaim   = "email"
	DefaultGroupsClaim = "groups"
	DefaultSessionTTL  = 8 * time.Hour
)

// DefaultScopes are asked for when Config.Scopes is empty. Issuers that put
// groups in tokens only on request (Dex: "groups") need it added.
var DefaultScopes = []string{gooidc.ScopeOpenID, "email", "profile"}

// maxTokenBytes bounds a presented ID token; real ones are a few KB.
const maxTokenBytes = 64 << 10

// Config is the server's OIDC sign-in setting. OIDC is off when Issuer is "".
type Config struct {
	Issuer       string        // the issuer URL, exactly as in its tokens' "iss"
	ClientID     string        // this server's client ID: the audience every ID token must carry
	ClientSecret string        // for the browser flow's code exchange; empty for a public (PKCE-only) client
	UserClaim    string        // the claim naming the user (default "email")
	GroupsClaim  string        // the claim listing the user's groups (default "groups"); dots reach into objects
	Scopes       []string      // scopes to ask for (default openid, email, profile)
	SessionTTL   time.Duration // lifetime of a Drawbridge session (default 8h)
}

// Enabled reports whether OIDC sign-in is configured.
func (c Config) Enabled() bool { return c.Issuer != "" }

// withDefaults checks c and fills in defaults. Invalid names the setting.
func (c Config) withDefaults() (Config, error) {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return c, d.FieldErrorf("oidc-issuer", "OIDC issuer %q: want a URL such as https://login.example.com", c.Issuer)
	}
	if c.ClientID == "" {
		return c, d.FieldErrorf("oidc-client-id", "an OIDC issuer needs a client ID")
	}
	if c.UserClaim == "" {
		c.UserClaim = DefaultUserClaim
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = DefaultGroupsClaim
	}
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes
	}
	if !slices.Contains(c.Scopes, gooidc.ScopeOpenID) {
		c.Scopes = append([]string{gooidc.ScopeOpenID}, c.Scopes...)
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 24*time.Hour {
		return c, d.FieldErrorf("session-ttl", "session lifetime must be from 1m to 24h")
	}
	return c, nil
}

// Verifier verifies ID tokens from one issuer. It is safe for concurrent use.
type Verifier struct {
	cfg Config
	hc  *http.Client
	now func() time.Time

	mu       sync.Mutex
	provider *gooidc.Provider
	sig      *gooidc.IDTokenVerifier // checks the signature only; claims are checked by check
	failedAt time.Time               // last failed discovery, to avoid hammering a down issuer
	lastErr  error
}

// rediscoverAfter spaces out discovery attempts while the issuer is down.
const rediscoverAfter = 5 * time.Second

// New returns a Verifier for cfg. hc carries requests to the issuer
// (discovery, keys, code exchange); now is the clock for token expiry. It
// does not contact the issuer. Invalid for a bad configuration.
func New(cfg Config, hc *http.Client, now func() time.Time) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Verifier{cfg: cfg, hc: hc, now: now}, nil
}

// Config returns the effective configuration, defaults filled in.
func (v *Verifier) Config() Config { return v.cfg }

// HTTPClient returns the client used to reach the issuer.
func (v *Verifier) HTTPClient() *http.Client { return v.hc }

// Discover fetches the issuer's discovery document unless already done.
// Unavailable when the issuer cannot be reached or its document is wrong.
func (v *Verifier) Discover(ctx context.Context) (*gooidc.Provider, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.provider != nil {
		return v.provider, nil
	}
	if !v.failedAt.IsZero() && time.Since(v.failedAt) < rediscoverAfter {
		return nil, v.lastErr
	}
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, v.hc), v.cfg.Issuer)
	if err != nil {
		v.failedAt, v.lastErr = time.Now(), &d.Error{Kind: d.Unavailable, Message: fmt.Sprintf("the identity provider %s is not reachable or its discovery document is invalid", v.cfg.Issuer), Err: err}
		return nil, v.lastErr
	}
	// The library's own issuer, audience and expiry checks are switched off
	// here and done by check, which says which one failed without matching
	// the library's error strings. The signature is always verified first,
	// against the issuer's JWKS (re-fetched when a token names a new key).
	v.sig = p.Verifier(&gooidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true, SkipIssuerCheck: true})
	v.provider = p
	return p, nil
}

// Verify checks a raw ID token: its signature against the issuer's keys,
// then issuer, audience, expiry and the user claim. It returns the identity
// it vouches for. Failures are Unauthenticated with a message saying which
// check failed; Unavailable when the issuer cannot be reached.
func (v *Verifier) Verify(ctx context.Context, rawIDToken string) (d.Identity, error) {
	return v.verify(ctx, rawIDToken, "")
}

// VerifyNonce is Verify for a token from a sign-in this server started: the
// token's nonce must equal nonce.
func (v *Verifier) VerifyNonce(ctx context.Context, rawIDToken, nonce string) (d.Identity, error) {
	if nonce == "" {
		return d.Identity{}, errors.New("oidc: VerifyNonce needs a nonce")
	}
	return v.verify(ctx, rawIDToken, nonce)
}

// signingAlgs are the algorithms an ID token may be signed with.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

func (v *Verifier) verify(ctx context.Context, raw, nonce string) (d.Identity, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return d.Identity{}, &d.Error{Kind: d.Unauthenticated, Field: "id_token", Message: "no ID token given"}
	}
	if len(raw) > maxTokenBytes {
		return d.Identity{}, &d.Error{Kind: d.Unauthenticated, Field: "id_token", Message: "the ID token is too large"}
	}
	// Parse first, to tell a malformed token from one whose signature fails.
	if _, err := jose.ParseSigned(raw, signingAlgs); err != nil {
		return d.Identity{}, &d.Error{Kind: d.Unauthenticated, Message: "the ID token is not a well-formed signed JWT"}
	}
	if _, err := v.Discover(ctx); err != nil {
		return d.Identity{}, err
	}
	tok, err := v.sig.Verify(gooidc.ClientContext(ctx, v.hc), raw)
	if err != nil {
		return d.Identity{}, &d.Error{Kind: d.Unauthenticated, Message: "the ID token's signature does not verify with any of the issuer's published keys", Err: err}
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return d.Identity{}, &d.Error{Kind: d.Unauthenticated, Message: "the ID token's claims are not a JSON object"}
	}
	c := tokenClaims{Issuer: tok.Issuer, Audience: tok.Audience, Expiry: tok.Expiry, Nonce: tok.Nonce, Claims: claims}
	if nbf, ok := claims["nbf"].(float64); ok {
		c.NotBefore = time.Unix(int64(nbf), 0)
	}
	c.AuthorizedParty, _ = claims["azp"].(string)
	return check(c, v.cfg, nonce, v.now())
}

// tokenClaims is what check looks at, from a token whose signature verified.
type tokenClaims struct {
	Issuer          string
	Audience        []string
	AuthorizedParty string
	Expiry          time.Time
	NotBefore       time.Time
	Nonce           string
	Claims          map[string]any
}

// nbfLeeway tolerates an issuer's clock running ahead of ours.
const nbfLeeway = 5 * time.Minute

// check applies the OIDC Core §3.1.3.7 claim checks and maps the claims to
// an identity. It is pure: now is passed in. Messages name what failed and
// what was expected, never the token's contents.
func check(c tokenClaims, cfg Config, nonce string, now time.Time) (d.Identity, error) {
	unauth := func(format string, args ...any) (d.Identity, error) {
		return d.Identity{}, &d.Error{Kind: d.Unauthenticated, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.Issuer != cfg.Issuer:
		return unauth("the ID token was issued by another issuer, not the configured %s", cfg.Issuer)
	case !slices.Contains(c.Audience, cfg.ClientID):
		return unauth("the ID token is not meant for this server: its audience does not include client ID %q", cfg.ClientID)
	case len(c.Audience) > 1 && c.AuthorizedParty != "" && c.AuthorizedParty != cfg.ClientID:
		return unauth("the ID token was issued to another client (azp), not %q", cfg.ClientID)
	case c.Expiry.IsZero() || !now.Before(c.Expiry):
		return unauth("the ID token has expired; sign in again")
	case !c.NotBefore.IsZero() && now.Add(nbfLeeway).Before(c.NotBefore):
		return unauth("the ID token is not valid yet (nbf in the future); check the clocks")
	case nonce != "" && c.Nonce != nonce:
		return unauth("the ID token does not belong to this sign-in (nonce mismatch); start the sign-in again")
	}
	user, ok := lookup(c.Claims, cfg.UserClaim).(string)
	user = strings.TrimSpace(user)
	if !ok || user == "" {
		return unauth("the ID token has no %q claim (the configured user claim) with a string value", cfg.UserClaim)
	}
	if strings.ContainsAny(user, " \t\r\n,") || len(user) > 256 {
		return unauth("the ID token's %q claim is not a usable user name (no spaces or commas, at most 256 bytes)", cfg.UserClaim)
	}
	// An email is an identity only when the provider vouches for it: some
	// providers leave email_verified out for addresses users can edit, and
	// bindings such as user:alice@corp must not be claimable that way. Use
	// a stable claim (--oidc-user-claim sub or oid) with such providers.
	if cfg.UserClaim == "email" && !isTrue(c.Claims["email_verified"]) {
		return unauth("the email address is not verified: the identity provider did not send email_verified true; configure --oidc-user-claim sub (or oid) for providers that do not send it")
	}
	return d.Identity{User: user, Groups: groups(lookup(c.Claims, cfg.GroupsClaim)), Issuer: c.Issuer}, nil
}

// lookup returns claim name, or — when there is no such top-level claim and
// name has dots — the value at that path ("realm_access.roles").
func lookup(claims map[string]any, name string) any {
	if v, ok := claims[name]; ok || !strings.Contains(name, ".") {
		return v
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// groups reads a groups claim: a list of strings, or one string. Other
// values, blanks and duplicates are dropped.
func groups(v any) []string {
	var in []string
	switch g := v.(type) {
	case string:
		in = []string{g}
	case []any:
		for _, x := range g {
			if s, ok := x.(string); ok {
				in = append(in, s)
			}
		}
	}
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func isTrue(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return b == "true"
	}
	return false
}

// OAuth2 returns the authorization-code configuration for a redirect to
// redirectURL. Unavailable when the issuer cannot be reached.
func (v *Verifier) OAuth2(ctx context.Context, redirectURL string) (*oauth2.Config, error) {
	p, err := v.Discover(ctx)
	if err != nil {
		return nil, err
	}
	return &oauth2.Config{ClientID: v.cfg.ClientID, ClientSecret: v.cfg.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: redirectURL, Scopes: v.cfg.Scopes}, nil
}

// Exchange redeems an authorization code (with its PKCE verifier) at the
// issuer's token endpoint and returns the raw ID token. Unauthenticated
// when the issuer refuses the code or returns no ID token.
func (v *Verifier) Exchange(ctx context.Context, oc *oauth2.Config, code, pkceVerifier string) (string, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, v.hc)
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(pkceVerifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			code := re.ErrorCode
			if code == "" && re.Response != nil {
				code = "HTTP " + re.Response.Status
			}
			return "", &d.Error{Kind: d.Unauthenticated, Message: "the identity provider refused the authorization code: " + orString(code, "no reason given"), Err: err}
		}
		return "", &d.Error{Kind: d.Unavailable, Message: "the identity provider's token endpoint is not reachable", Err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", &d.Error{Kind: d.Unauthenticated, Message: "the identity provider returned no ID token (is the openid scope allowed for this client?)"}
	}
	return raw, nil
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
