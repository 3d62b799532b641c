package client

import (
	"context"
	"net/url"

	d "github.com/drawbridge/drawbridge"
)

// The request and response shapes are those of the server's use cases.
type (
	JoinTokenInput = d.JoinTokenInput
)

// JoinTokens lists agent join tokens (never their secrets), newest first.
func (c *Client) JoinTokens(ctx context.Context) ([]d.JoinToken, error) {
	var out struct {
		JoinTokens []d.JoinToken `json:"join_tokens"`
	}
	err := c.Do(ctx, "GET", "/api/v1/join-tokens", nil, nil, &out)
	return out.JoinTokens, err
}

// JoinTokenRevoke ends an agent join token at once.
func (c *Client) JoinTokenRevoke(ctx context.Context, id d.JoinTokenID) error {
	return c.Do(ctx, "DELETE", "/api/v1/join-tokens/"+url.PathEscape(string(id)), nil, nil, nil)
}

// JoinTokenCreate creates an agent join token; the secret is returned once.
// It also returns the CA pin agents must pass as --ca-pin.
func (c *Client) JoinTokenCreate(ctx context.Context, in JoinTokenInput) (token, caPin string, info *d.JoinToken, err error) {
	var out struct {
		Token string      `json:"token"`
		Info  d.JoinToken `json:"info"`
		CAPin string      `json:"ca_pin"`
	}
	err = c.Do(ctx, "POST", "/api/v1/join-tokens", nil, in, &out)
	return out.Token, out.CAPin, &out.Info, err
}
