package client

import (
	"context"
	"net/url"

	d "github.com/drawbridge/drawbridge"
)

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

// Extend asks for more time on the caller's active request.
func (c *Client) Extend(ctx context.Context, id d.RequestID, in d.ExtendInput) (*d.Request, error) {
	return c.requestVerb(ctx, id, "extend", in)
}

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

// MachineLabels edits a machine's labels.
func (c *Client) MachineLabels(ctx context.Context, machine string, in d.LabelsInput) (*d.Machine, error) {
	var out d.Machine
	err := c.Do(ctx, "PATCH", "/api/v1/machines/"+url.PathEscape(machine)+"/labels", nil, in, &out)
	return &out, err
}

// SelectorPolicySet creates or changes the policy for in.Selector; the
// result lists the ways the change weakened policies.
func (c *Client) SelectorPolicySet(ctx context.Context, in d.PolicyInput) (*d.PolicyChange, error) {
	var out d.PolicyChange
	err := c.Do(ctx, "POST", "/api/v1/selector-policies", nil, in, &out)
	return &out, err
}

// SelectorPolicies lists the label-selector policies.
func (c *Client) SelectorPolicies(ctx context.Context) ([]d.Policy, error) {
	var out struct {
		Policies []d.Policy `json:"policies"`
	}
	err := c.Do(ctx, "GET", "/api/v1/selector-policies", nil, nil, &out)
	return out.Policies, err
}

// SelectorPolicyDelete deletes a label-selector policy.
func (c *Client) SelectorPolicyDelete(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/selector-policies/"+url.PathEscape(id), nil, nil, nil)
}

// BindingCreate binds a subject to a role at a scope.
func (c *Client) BindingCreate(ctx context.Context, in d.BindingInput) (*d.Binding, error) {
	var out d.Binding
	err := c.Do(ctx, "POST", "/api/v1/bindings", nil, in, &out)
	return &out, err
}

// Bindings lists role bindings.
func (c *Client) Bindings(ctx context.Context) ([]d.Binding, error) {
	var out struct {
		Bindings []d.Binding `json:"bindings"`
	}
	err := c.Do(ctx, "GET", "/api/v1/bindings", nil, nil, &out)
	return out.Bindings, err
}

// BindingDelete deletes a role binding. With revokeGrants the subject's
// open requests are revoked too; the answer lists them (or those still open).
func (c *Client) BindingDelete(ctx context.Context, id string, revokeGrants bool) (*d.Revoked, error) {
	var out d.Revoked
	err := c.Do(ctx, "DELETE", "/api/v1/bindings/"+url.PathEscape(id), revokeGrantsQuery(revokeGrants), nil, &out)
	return &out, err
}

// RoleInfo describes a role.
type RoleInfo struct {
	Name    d.Role     `json:"name"`
	BuiltIn bool       `json:"built_in"`
	Actions []d.Action `json:"actions"`
}

// RoleCreate defines a custom role.
func (c *Client) RoleCreate(ctx context.Context, r d.CustomRole) (*d.CustomRole, error) {
	var out d.CustomRole
	err := c.Do(ctx, "POST", "/api/v1/roles", nil, d.RoleInput{Name: r.Name, Actions: r.Actions}, &out)
	return &out, err
}

// Roles lists built-in and custom roles.
func (c *Client) Roles(ctx context.Context) ([]RoleInfo, error) {
	var out struct {
		Roles []RoleInfo `json:"roles"`
	}
	err := c.Do(ctx, "GET", "/api/v1/roles", nil, nil, &out)
	return out.Roles, err
}

// RoleDelete deletes a custom role.
func (c *Client) RoleDelete(ctx context.Context, name d.Role) error {
	return c.Do(ctx, "DELETE", "/api/v1/roles/"+url.PathEscape(string(name)), nil, nil, nil)
}

// Policies lists machine and selector policies the caller may read.
func (c *Client) Policies(ctx context.Context) ([]d.Policy, error) {
	var out struct {
		Policies []d.Policy `json:"policies"`
	}
	err := c.Do(ctx, "GET", "/api/v1/policies", nil, nil, &out)
	return out.Policies, err
}

// MachineDelete deletes a machine; its agent's certificate stops working.
func (c *Client) MachineDelete(ctx context.Context, machine string) error {
	return c.Do(ctx, "DELETE", "/api/v1/machines/"+url.PathEscape(machine), nil, nil, nil)
}
