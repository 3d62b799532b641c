package client

import (
	"context"
	"net/url"

	d "github.com/drawbridge/drawbridge"
)

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
