package client

import (
	"context"

	d "github.com/drawbridge/drawbridge"
)

// Whoami returns the caller's identity and actions.
func (c *Client) Whoami(ctx context.Context) (d.Actor, []d.Action, error) {
	var out struct {
		Actor   d.Actor    `json:"actor"`
		Actions []d.Action `json:"actions"`
	}
	err := c.Do(ctx, "GET", "/api/v1/whoami", nil, nil, &out)
	return out.Actor, out.Actions, err
}
