package client

import (
	"context"
	"net/url"
	"strconv"

	d "github.com/drawbridge/drawbridge"
)

// WebhookCreate registers a webhook. The answer carries the secret; no
// later call returns it.
func (c *Client) WebhookCreate(ctx context.Context, in d.WebhookInput) (*d.Webhook, error) {
	var out d.Webhook
	err := c.Do(ctx, "POST", "/api/v1/webhooks", nil, in, &out)
	return &out, err
}

// Webhooks lists the webhooks, without their secrets.
func (c *Client) Webhooks(ctx context.Context) ([]d.Webhook, error) {
	var out struct {
		Webhooks []d.Webhook `json:"webhooks"`
	}
	err := c.Do(ctx, "GET", "/api/v1/webhooks", nil, nil, &out)
	return out.Webhooks, err
}

// WebhookDelete deletes a webhook and its deliveries.
func (c *Client) WebhookDelete(ctx context.Context, id d.WebhookID) error {
	return c.Do(ctx, "DELETE", "/api/v1/webhooks/"+url.PathEscape(string(id)), nil, nil, nil)
}

// WebhookTest queues a webhook.test delivery and returns it.
func (c *Client) WebhookTest(ctx context.Context, id d.WebhookID) (*d.Delivery, error) {
	var out d.Delivery
	err := c.Do(ctx, "POST", "/api/v1/webhooks/"+url.PathEscape(string(id))+"/test", nil, nil, &out)
	return &out, err
}

// DeliveryFilter selects deliveries; zero fields select everything.
type DeliveryFilter struct {
	WebhookID d.WebhookID
	Status    d.DeliveryStatus
	Limit     int
}

// Deliveries lists deliveries, newest first.
func (c *Client) Deliveries(ctx context.Context, f DeliveryFilter) ([]d.Delivery, error) {
	q := url.Values{}
	if f.WebhookID != "" {
		q.Set("webhook", string(f.WebhookID))
	}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		Deliveries []d.Delivery `json:"deliveries"`
	}
	err := c.Do(ctx, "GET", "/api/v1/webhook-deliveries", q, nil, &out)
	return out.Deliveries, err
}

// Delivery returns one delivery.
func (c *Client) Delivery(ctx context.Context, id d.DeliveryID) (*d.Delivery, error) {
	var out d.Delivery
	err := c.Do(ctx, "GET", "/api/v1/webhook-deliveries/"+url.PathEscape(string(id)), nil, nil, &out)
	return &out, err
}

// DeliveryRetry retries a dead delivery.
func (c *Client) DeliveryRetry(ctx context.Context, id d.DeliveryID) (*d.Delivery, error) {
	var out d.Delivery
	err := c.Do(ctx, "POST", "/api/v1/webhook-deliveries/"+url.PathEscape(string(id))+"/retry", nil, nil, &out)
	return &out, err
}
