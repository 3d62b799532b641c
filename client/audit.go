package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	d "github.com/drawbridge/drawbridge"
)

// EventQuery selects audit events. Zero fields select everything.
type EventQuery struct {
	After   d.EventID // cursor: events with a greater ID
	Limit   int       // page size (JSON), or at most this many (exports); 0: the server's default / all
	Action  string
	Target  string
	Request d.RequestID
	Machine string // name or ID
	User    string // actor subject or name
	Since   string // RFC 3339 time or a duration before now ("24h")
	Until   string
}

func (q EventQuery) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(int64(q.After), 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("action", q.Action)
	set("target", q.Target)
	set("request", string(q.Request))
	set("machine", q.Machine)
	set("user", q.User)
	set("since", q.Since)
	set("until", q.Until)
	return v
}

// EventsPage returns one page of events and the cursor for the next page
// (0 when this was the last).
func (c *Client) EventsPage(ctx context.Context, q EventQuery) ([]d.Event, d.EventID, error) {
	var out struct {
		Events []d.Event `json:"events"`
		Next   d.EventID `json:"next"`
	}
	err := c.Do(ctx, "GET", "/api/v1/events", q.values(), nil, &out)
	return out.Events, out.Next, err
}

// EventsExport streams every event q selects in format "csv" or "jsonl".
// The caller must close the body; a read error means the export was cut
// short (the server aborts the stream rather than end it early).
func (c *Client) EventsExport(ctx context.Context, q EventQuery, format string) (io.ReadCloser, error) {
	v := q.values()
	v.Set("format", format)
	u := *c.base
	u.Path += "/api/v1/events"
	u.RawQuery = v.Encode()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(c.base.Host, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp.Body, nil
}

// AuditVerify asks the server to walk the hash chain; with head not nil it
// also checks that the chain still contains that exported head.
func (c *Client) AuditVerify(ctx context.Context, head *d.AuditHead) (*d.AuditReport, error) {
	q := url.Values{}
	if head != nil {
		q.Set("id", strconv.FormatInt(int64(head.ID), 10))
		q.Set("hash", head.Hash)
	}
	var out d.AuditReport
	err := c.Do(ctx, "GET", "/api/v1/audit/verify", q, nil, &out)
	return &out, err
}

// AuditHead returns the chain's head signed by the server's CA.
func (c *Client) AuditHead(ctx context.Context) (*d.AuditHead, error) {
	var out d.AuditHead
	err := c.Do(ctx, "GET", "/api/v1/audit/head", nil, nil, &out)
	return &out, err
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
