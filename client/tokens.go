package client

import (
	"context"
	"net/url"

	d "github.com/drawbridge/drawbridge"
)

// The request and response shapes are those of the server's use cases.
type (
	TokenInput = d.TokenInput
)

// TokenCreate creates an API token; the secret is returned once.
func (c *Client) TokenCreate(ctx context.Context, in TokenInput) (string, *d.Token, error) {
	var out struct {
		Token string  `json:"token"`
		Info  d.Token `json:"info"`
	}
	err := c.Do(ctx, "POST", "/api/v1/tokens", nil, in, &out)
	return out.Token, &out.Info, err
}

// Tokens lists API tokens.
func (c *Client) Tokens(ctx context.Context) ([]d.Token, error) {
	var out struct {
		Tokens []d.Token `json:"tokens"`
	}
	err := c.Do(ctx, "GET", "/api/v1/tokens", nil, nil, &out)
	return out.Tokens, err
}

// TokenRevoke revokes an API token. With revokeGrants the requests made
// with it are revoked too; the answer lists them (or those still open).
func (c *Client) TokenRevoke(ctx context.Context, id d.TokenID, revokeGrants bool) (*d.Revoked, error) {
	var out d.Revoked
	err := c.Do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(string(id)), revokeGrantsQuery(revokeGrants), nil, &out)
	return &out, err
}

func revokeGrantsQuery(revokeGrants bool) url.Values {
	q := url.Values{}
	if revokeGrants {
		q.Set("revoke_grants", "true")
	}
	return q
}
