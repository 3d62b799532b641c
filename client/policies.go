package client

import (
	"context"
	"net/url"

	d "github.com/drawbridge/drawbridge"
)

// The request and response shapes are those of the server's use cases.
type (
	PolicyInput = d.PolicyInput
	RuleInput   = d.RuleInput
)

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

// Policies lists machine and selector policies the caller may read.
func (c *Client) Policies(ctx context.Context) ([]d.Policy, error) {
	var out struct {
		Policies []d.Policy `json:"policies"`
	}
	err := c.Do(ctx, "GET", "/api/v1/policies", nil, nil, &out)
	return out.Policies, err
}
