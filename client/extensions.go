package client

import (
	"context"

	d "github.com/drawbridge/drawbridge"
)

// Extend asks for more time on the caller's active request.
func (c *Client) Extend(ctx context.Context, id d.RequestID, in d.ExtendInput) (*d.Request, error) {
	return c.requestVerb(ctx, id, "extend", in)
}
