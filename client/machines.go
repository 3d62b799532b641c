package client

import (
	"context"
	"net/url"

	d "github.com/drawbridge/drawbridge"
)

// The request and response shapes are those of the server's use cases.
type (
	MachineView = d.MachineView
)

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

// MachineLabels edits a machine's labels.
func (c *Client) MachineLabels(ctx context.Context, machine string, in d.LabelsInput) (*d.Machine, error) {
	var out d.Machine
	err := c.Do(ctx, "PATCH", "/api/v1/machines/"+url.PathEscape(machine)+"/labels", nil, in, &out)
	return &out, err
}

// MachineDelete deletes a machine; its agent's certificate stops working.
func (c *Client) MachineDelete(ctx context.Context, machine string) error {
	return c.Do(ctx, "DELETE", "/api/v1/machines/"+url.PathEscape(machine), nil, nil, nil)
}
