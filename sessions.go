package drawbridge

import "time"

// AuthConfig tells clients how to sign in: whether the server accepts OIDC
// ID tokens, and the issuer, client ID and scopes to ask them for. Served
// without credentials at GET /api/v1/auth/config.
type AuthConfig struct {
	OIDC     bool     `json:"oidc"`                // false: API tokens only
	Issuer   string   `json:"issuer,omitempty"`    // the OIDC issuer URL, exactly as in its tokens
	ClientID string   `json:"client_id,omitempty"` // the audience ID tokens must carry
	Scopes   []string `json:"scopes,omitempty"`    // what to ask the issuer for
}

// SessionInput exchanges an ID token from the configured issuer for a
// Drawbridge session token.
type SessionInput struct {
	IDToken string `json:"id_token"`
}

// Session is a signed-in session: the token (shown once) and who it is for.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      string    `json:"user"`
	Groups    []string  `json:"groups,omitempty"`
}

// Identity is a person as the identity provider vouches for them, after
// the ID token was verified.
type Identity struct {
	User   string   // from the configured user claim (e.g. email)
	Groups []string // from the configured groups claim
	Issuer string
}
