// Package oidctest is an OpenID Connect issuer for tests: discovery, JWKS,
// an authorization endpoint that signs the configured user in at once, a
// token endpoint (authorization code with PKCE S256, and the device grant)
// and a device authorization endpoint that approves at once. ID tokens are
// signed with ES256 keys that a test can rotate. It serves plain HTTP on
// 127.0.0.1 through httptest.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is a signing key.
type Key struct {
	ID   string
	priv *ecdsa.PrivateKey
}

// NewKey returns a fresh ES256 key, published nowhere until an issuer
// rotates to it.
func NewKey(t testing.TB) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Key{ID: fmt.Sprintf("k%x", b), priv: priv}
}

// Sign signs claims as a compact JWT.
func (k *Key) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.ID, Algorithm: string(jose.ES256)}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Issuer is a running test issuer. It is safe for concurrent use.
type Issuer struct {
	URL      string // the issuer URL, as in its tokens
	ClientID string // the only client it knows

	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	key       *Key           // signs new tokens; the only key in the JWKS
	user      map[string]any // who signs in at /authorize and /device
	codes     map[string]grant
	devices   map[string]grant
	jwksFetch int
}

// grant is an authorization code or device code waiting for redemption.
type grant struct {
	redirectURI, challenge, nonce string
}

// New starts an issuer for clientID; it stops when the test ends. The user
// who signs in is alice@example.com until SetUser.
func New(t testing.TB, clientID string) *Issuer {
	t.Helper()
	i := &Issuer{ClientID: clientID, t: t, key: NewKey(t), codes: map[string]grant{}, devices: map[string]grant{},
		user: map[string]any{"sub": "alice", "email": "alice@example.com", "email_verified": true}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /keys", i.jwks)
	mux.HandleFunc("GET /authorize", i.authorize)
	mux.HandleFunc("POST /token", i.token)
	mux.HandleFunc("POST /device", i.device)
	i.srv = httptest.NewServer(mux)
	t.Cleanup(i.srv.Close)
	i.URL = i.srv.URL
	return i
}

// SetUser sets the claims (besides iss, aud, exp, iat, nonce) of the tokens
// the flows issue from now on.
func (i *Issuer) SetUser(claims map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.user = claims
}

// Rotate makes a new signing key the only published one, and returns it.
func (i *Issuer) Rotate() *Key {
	k := NewKey(i.t)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.key = k
	return k
}

// Key returns the current signing key.
func (i *Issuer) Key() *Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.key
}

// JWKSFetches counts requests for the key set.
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksFetch
}

// Claims returns valid ID token claims for user claims extra, issued now
// and valid for an hour; tests change them to make bad tokens.
func (i *Issuer) Claims(extra map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": i.URL, "aud": i.ClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "email_verified": true}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// IDToken signs claims with the current key.
func (i *Issuer) IDToken(claims map[string]any) string {
	return i.Key().Sign(i.t, claims)
}

func (i *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.URL,
		"authorization_endpoint":                i.URL + "/authorize",
		"token_endpoint":                        i.URL + "/token",
		"device_authorization_endpoint":         i.URL + "/device",
		"jwks_uri":                              i.URL + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported":                 []string{"authorization_code", "urn:ietf:params:oauth:grant-type:device_code"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	k := i.key
	i.jwksFetch++
	i.mu.Unlock()
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.priv.PublicKey, KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"}}})
}

// authorize signs the user in at once and redirects back with a code.
func (i *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != i.ClientID:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case err != nil || redirect.Host == "":
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "want response_type=code with a PKCE S256 challenge", http.StatusBadRequest)
		return
	}
	code := random()
	i.mu.Lock()
	i.codes[code] = grant{redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), nonce: q.Get("nonce")}
	i.mu.Unlock()
	v := redirect.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	redirect.RawQuery = v.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// device starts a device grant, approved at once.
func (i *Issuer) device(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("client_id") != i.ClientID {
		oauthError(w, "invalid_client")
		return
	}
	dc := random()
	i.mu.Lock()
	i.devices[dc] = grant{}
	i.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"device_code": dc, "user_code": "WDJB-MJHT", "verification_uri": i.URL + "/activate", "expires_in": 300, "interval": 1})
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request")
		return
	}
	clientID := r.PostForm.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok {
		clientID = id
	}
	if clientID != i.ClientID {
		oauthError(w, "invalid_client")
		return
	}
	var nonce string
	i.mu.Lock()
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		g, ok := i.codes[r.PostForm.Get("code")]
		delete(i.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || g.redirectURI != r.PostForm.Get("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			i.mu.Unlock()
			oauthError(w, "invalid_grant")
			return
		}
		nonce = g.nonce
	case "urn:ietf:params:oauth:grant-type:device_code":
		if _, ok := i.devices[r.PostForm.Get("device_code")]; !ok {
			i.mu.Unlock()
			oauthError(w, "invalid_grant")
			return
		}
		delete(i.devices, r.PostForm.Get("device_code"))
	default:
		i.mu.Unlock()
		oauthError(w, "unsupported_grant_type")
		return
	}
	user := i.user
	i.mu.Unlock()
	c := i.Claims(user)
	if nonce != "" {
		c["nonce"] = nonce
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": random(), "token_type": "Bearer", "expires_in": 3600, "id_token": i.IDToken(c)})
}

func oauthError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
