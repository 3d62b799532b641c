package client

import (
	"context"

	d "github.com/drawbridge/drawbridge"
)

// AuthConfig returns how to sign in to the server (no credentials needed).
func (c *Client) AuthConfig(ctx context.Context) (*d.AuthConfig, error) {
	var out d.AuthConfig
	if err := c.Do(ctx, "GET", "/api/v1/auth/config", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SessionCreate exchanges an ID token from the server's issuer for a
// Drawbridge session token (no credentials needed). Unauthenticated for a
// token the server does not accept; Forbidden for a user with no role binding.
func (c *Client) SessionCreate(ctx context.Context, idToken string) (*d.Session, error) {
	var out d.Session
	if err := c.Do(ctx, "POST", "/api/v1/auth/oidc/token", nil, d.SessionInput{IDToken: idToken}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Logout revokes the client's session token (API tokens cannot sign out:
// Invalid).
func (c *Client) Logout(ctx context.Context) error {
	return c.Do(ctx, "POST", "/auth/logout", nil, nil, nil)
}
