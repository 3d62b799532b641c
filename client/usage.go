package client

import (
	"context"
	"net/url"

	d "github.com/drawbridge/drawbridge"
)

// ReportUsage sends the traffic counters of the machine's grants (agent
// only, over mutual TLS).
func (c *Client) ReportUsage(ctx context.Context, m d.MachineID, in d.UsageInput) error {
	return c.Do(ctx, "POST", "/api/v1/agent/machines/"+url.PathEscape(string(m))+"/usage", nil, in, nil)
}
