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
	RequestInput   = d.RequestInput
	MachineTargets = d.MachineTargets
	PortTarget     = d.PortTarget
	RevokeInput    = d.RevokeInput
)

// RequestCreate asks for access. With wait > 0 the server answers once the
// agents confirmed the rules are in the kernel, or fails after wait.
func (c *Client) RequestCreate(ctx context.Context, in RequestInput, wait time.Duration) (*d.Request, error) {
	var out d.Request
	q := url.Values{}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	err := c.Do(ctx, "POST", "/api/v1/requests", q, in, &out)
	return &out, err
}

// Request returns one request; with wait > 0, once it is no longer applying.
func (c *Client) Request(ctx context.Context, id d.RequestID, wait time.Duration) (*d.Request, error) {
	var out d.Request
	q := url.Values{}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	err := c.Do(ctx, "GET", "/api/v1/requests/"+url.PathEscape(string(id)), q, nil, &out)
	return &out, err
}

// RequestsFilter narrows Requests.
type RequestsFilter struct {
	Mine, Open bool
	Machine    string
	Limit      int
}

// Requests lists requests, newest first.
func (c *Client) Requests(ctx context.Context, f RequestsFilter) ([]d.Request, error) {
	q := url.Values{}
	if f.Mine {
		q.Set("mine", "true")
	}
	if f.Open {
		q.Set("open", "true")
	}
	if f.Machine != "" {
		q.Set("machine", f.Machine)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		Requests []d.Request `json:"requests"`
	}
	err := c.Do(ctx, "GET", "/api/v1/requests", q, nil, &out)
	return out.Requests, err
}

// Revoke ends a request early.
func (c *Client) Revoke(ctx context.Context, id d.RequestID, in RevokeInput) (*d.Request, error) {
	var out d.Request
	err := c.Do(ctx, "POST", "/api/v1/requests/"+url.PathEscape(string(id))+"/revoke", nil, in, &out)
	return &out, err
}

// DryRun answers what a request would open, without opening anything.
func (c *Client) DryRun(ctx context.Context, in d.RequestInput) (*d.DryRunResult, error) {
	var out d.DryRunResult
	err := c.Do(ctx, "POST", "/api/v1/requests", url.Values{"dry_run": {"true"}}, in, &out)
	return &out, err
}

func (c *Client) requestVerb(ctx context.Context, id d.RequestID, verb string, body any) (*d.Request, error) {
	var out d.Request
	err := c.Do(ctx, "POST", "/api/v1/requests/"+url.PathEscape(string(id))+"/"+verb, nil, body, &out)
	return &out, err
}

// Done ends the caller's own request early.
func (c *Client) Done(ctx context.Context, id d.RequestID) (*d.Request, error) {
	return c.requestVerb(ctx, id, "done", nil)
}
