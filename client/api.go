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
	MachineView    = d.MachineView
	PolicyInput    = d.PolicyInput
	RuleInput      = d.RuleInput
	RequestInput   = d.RequestInput
	MachineTargets = d.MachineTargets
	PortTarget     = d.PortTarget
	RevokeInput    = d.RevokeInput
	TokenInput     = d.TokenInput
	JoinTokenInput = d.JoinTokenInput
	EnrollInput    = d.EnrollInput
	Enrollment     = d.Enrollment
	AckInput       = d.AckInput
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

// Machines lists machines with their JIT status.
func (c *Client) Machines(ctx context.Context) ([]MachineView, error) {
	var out struct {
		Machines []MachineView `json:"machines"`
	}
	err := c.Do(ctx, "GET", "/api/v1/machines", nil, nil, &out)
	return out.Machines, err
}

// Machine returns one machine by name or ID.
func (c *Client) Machine(ctx context.Context, ref string) (*MachineView, error) {
	var out MachineView
	err := c.Do(ctx, "GET", "/api/v1/machines/"+url.PathEscape(ref), nil, nil, &out)
	return &out, err
}

// Policy returns a machine's JIT policy.
func (c *Client) Policy(ctx context.Context, machine string) (*d.Policy, error) {
	var out d.Policy
	err := c.Do(ctx, "GET", "/api/v1/machines/"+url.PathEscape(machine)+"/policy", nil, nil, &out)
	return &out, err
}

// PolicySet creates or changes a machine's policy; the result lists the
// ways the change weakened the policy that governed the machine.
func (c *Client) PolicySet(ctx context.Context, machine string, in PolicyInput) (*d.PolicyChange, error) {
	var out d.PolicyChange
	err := c.Do(ctx, "PUT", "/api/v1/machines/"+url.PathEscape(machine)+"/policy", nil, in, &out)
	return &out, err
}

// PolicyDelete deletes a machine's own policy; the result says what
// governs the machine now and how that is weaker.
func (c *Client) PolicyDelete(ctx context.Context, machine string) (*d.PolicyDeletion, error) {
	var out d.PolicyDeletion
	err := c.Do(ctx, "DELETE", "/api/v1/machines/"+url.PathEscape(machine)+"/policy", nil, nil, &out)
	return &out, err
}

// PolicyEnable enables a machine's policy (Azure's defaults if it has none).
func (c *Client) PolicyEnable(ctx context.Context, machine string) (*d.PolicyChange, error) {
	var out d.PolicyChange
	err := c.Do(ctx, "POST", "/api/v1/machines/"+url.PathEscape(machine)+"/policy/enable", nil, nil, &out)
	return &out, err
}

// PolicyDisable disables a machine's policy, revoking its grants.
func (c *Client) PolicyDisable(ctx context.Context, machine string) (*d.PolicyChange, error) {
	var out d.PolicyChange
	err := c.Do(ctx, "POST", "/api/v1/machines/"+url.PathEscape(machine)+"/policy/disable", nil, nil, &out)
	return &out, err
}

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

// Events lists audit events after an ID.
func (c *Client) Events(ctx context.Context, after d.EventID, limit int) ([]d.Event, error) {
	q := url.Values{}
	q.Set("after", strconv.FormatInt(int64(after), 10))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Events []d.Event `json:"events"`
	}
	err := c.Do(ctx, "GET", "/api/v1/events", q, nil, &out)
	return out.Events, err
}

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
