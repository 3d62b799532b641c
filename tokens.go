package drawbridge

import (
	"crypto/sha256"
	"crypto/subtle"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Token is an API token for a person or automation. Only the SHA-256 hash of
// its secret is stored; the full token is shown once, at creation.
type Token struct {
	ID        TokenID   `json:"id"`
	Kind      TokenKind `json:"kind"` // api or session
	Name      string    `json:"name"`
	Role      Role      `json:"role,omitempty"`   // api tokens: the role, at Scope
	Scope     Scope     `json:"scope,omitempty"`  // api tokens: where Role applies (default "*")
	Owner     string    `json:"owner,omitempty"`  // api tokens: the person it was made for, "user:<name>" (or the creating token's own subject)
	User      string    `json:"user,omitempty"`   // sessions: the signed-in user
	Groups    []string  `json:"groups,omitempty"` // sessions: the user's groups at sign-in
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: never
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Token lifetimes: an API token given a TTL lives at least MinTokenTTL and
// at most MaxTokenTTL; one given no TTL never expires.
const (
	MinTokenTTL = time.Minute
	MaxTokenTTL = 366 * 24 * time.Hour
)

// RoleNone, as a token's role, makes a token with no role of its own: it has
// only what role bindings on token:<ID> give it. The role must be given
// explicitly; an empty role is refused.
const RoleNone Role = "none"

// ParseOwner reads a token owner: a person, "user:<name>" or a bare name
// (read as user:<name>, as the identity provider names people, such as
// alice@example.com). It returns the canonical "user:<name>".
func ParseOwner(s string) (string, error) {
	s = strings.TrimSpace(s)
	if kind, _, ok := strings.Cut(s, ":"); ok && (kind == "group" || kind == "token" || kind == "role" || kind == "agent") {
		return "", FieldErrorf("owner", "owner: a token is owned by a person (user:<name>), not by a %s", kind)
	}
	if !strings.HasPrefix(s, "user:") {
		s = "user:" + s
	}
	if !ownerRE().MatchString(s) {
		return "", FieldErrorf("owner", "owner: want a person's name as the identity provider names them (such as alice@example.com), or user:<name>")
	}
	return s, nil
}

var ownerRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^user:[^\s,]{1,256}$`) }) // as binding subjects

// TokenKind tells API tokens from sign-in sessions.
type TokenKind string

// Token kinds.
const (
	TokenAPI     TokenKind = "api"     // created by an admin for a person or automation
	TokenSession TokenKind = "session" // short-lived, issued at OIDC sign-in; roles come from bindings
)

// Usable reports whether the token may authenticate at now.
func (t *Token) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// NewSecret returns a full token string "<id>.<secret>" and the hash to store.
// The ID half lets the server find the row without a timing side channel on
// the secret; the secret half is compared in constant time.
func NewSecret(id string) (full string, hash []byte) {
	secret := RandomString(40)
	return id + "." + secret, HashSecret(secret)
}

// SplitSecret splits "<id>.<secret>" and checks the ID's prefix and form.
func SplitSecret(full, prefix string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(strings.TrimSpace(full), ".")
	if !ok || !ValidID(id, prefix) || len(secret) < 20 || len(secret) > 128 {
		return "", "", false
	}
	return id, secret, true
}

// HashSecret returns the SHA-256 of a token secret.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// SecretMatches compares a presented secret with a stored hash in constant time.
func SecretMatches(secret string, hash []byte) bool {
	return subtle.ConstantTimeCompare(HashSecret(secret), hash) == 1
}

// TokenInput describes a new API token.
type TokenInput struct {
	Name  string `json:"name"`
	Role  Role   `json:"role"`
	Scope string `json:"scope,omitempty"` // where the role applies: *, machine:<name or ID>, or a label selector; default *
	TTL   string `json:"ttl,omitempty"`   // absent: no expiry; else from MinTokenTTL to MaxTokenTTL
	Owner string `json:"owner,omitempty"` // the person it is for (user:<name> or a bare name); default: the creator
}

// Revoked is the answer to revoking a token or deleting a binding: the
// subject's requests that were ended with it (revoke_grants=true), and
// those still open.
type Revoked struct {
	RevokedRequests []RequestID `json:"revoked_requests"`
	OpenRequests    []RequestID `json:"open_requests"`
}
