package client

import (
	"context"

	d "github.com/drawbridge/drawbridge"
)

// Approve approves a pending request or extension.
func (c *Client) Approve(ctx context.Context, id d.RequestID, in d.DecisionInput) (*d.Request, error) {
	return c.requestVerb(ctx, id, "approve", in)
}

// Deny denies a pending request or extension.
func (c *Client) Deny(ctx context.Context, id d.RequestID, in d.DecisionInput) (*d.Request, error) {
	return c.requestVerb(ctx, id, "deny", in)
}

// Approvals lists what waits for the caller's decision.
func (c *Client) Approvals(ctx context.Context) ([]d.Request, error) {
	var out struct {
		Requests []d.Request `json:"requests"`
	}
	err := c.Do(ctx, "GET", "/api/v1/approvals", nil, nil, &out)
	return out.Requests, err
}
