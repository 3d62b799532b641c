package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// The request and response shapes are those of the server's use cases.
type (
	EnrollInput = d.EnrollInput
	Enrollment  = d.Enrollment
	AckInput    = d.AckInput
)

// Enroll registers an agent with a join token.
func (c *Client) Enroll(ctx context.Context, in EnrollInput) (*Enrollment, error) {
	var out Enrollment
	err := c.Do(ctx, "POST", "/api/v1/agent/enroll", nil, in, &out)
	return &out, err
}

// WatchState long-polls the machine's desired state past index.
func (c *Client) WatchState(ctx context.Context, m d.MachineID, index int64, wait time.Duration) (*d.DesiredState, error) {
	q := url.Values{}
	q.Set("index", strconv.FormatInt(index, 10))
	q.Set("wait", wait.String())
	var out d.DesiredState
	err := c.Do(ctx, "GET", "/api/v1/agent/machines/"+url.PathEscape(string(m))+"/state", q, nil, &out)
	return &out, err
}

// Ack confirms a state version was applied (or reports why not).
func (c *Client) Ack(ctx context.Context, m d.MachineID, in AckInput) error {
	return c.Do(ctx, "POST", "/api/v1/agent/machines/"+url.PathEscape(string(m))+"/ack", nil, in, nil)
}

// ReportInventory sends the host's inventory.
func (c *Client) ReportInventory(ctx context.Context, m d.MachineID, inv d.Inventory) error {
	return c.Do(ctx, "PUT", "/api/v1/agent/machines/"+url.PathEscape(string(m))+"/inventory", nil, inv, nil)
}

// AgentOffline tells the server the agent is stopping, so its machine shows
// offline at once.
func (c *Client) AgentOffline(ctx context.Context, m d.MachineID) error {
	return c.Do(ctx, "POST", "/api/v1/agent/machines/"+url.PathEscape(string(m))+"/offline", nil, nil, nil)
}

// Renew asks for a fresh client certificate.
func (c *Client) Renew(ctx context.Context, m d.MachineID, csrPEM string) (*Enrollment, error) {
	var out Enrollment
	err := c.Do(ctx, "POST", "/api/v1/agent/machines/"+url.PathEscape(string(m))+"/renew", nil, map[string]string{"csr": csrPEM}, &out)
	return &out, err
}
