// Package client is the Go client for Drawbridge's /api/v1. Errors from the
// server come back as *drawbridge.Error with the server's Kind, message and
// field, so callers handle them exactly as in-process code would; a response
// without an error body gets the Kind of its status (drawbridge.KindOfStatus,
// the same table the server answers from).
//
// Methods are filed by resource, with the same file names as on the server
// (internal/web and internal/control): requests.go, approvals.go,
// extensions.go, machines.go, policies.go, tokens.go, jointokens.go,
// bindings.go, audit.go, webhooks.go, agents.go, usage.go, sessions.go and
// authz.go (Whoami).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Client talks to one Drawbridge server. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for the server at addr ("https://host:8443"), using
// hc for transport (its TLS config carries the CA and, for agents, the
// client certificate). token may be empty (agents authenticate by certificate).
func New(addr, token string, hc *http.Client) (*Client, error) {
	if addr == "" {
		return nil, errors.New("no server address: set --addr or DRAWBRIDGE_ADDR")
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid server address %q", addr)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("invalid server address %q: want https://host:port", addr)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{base: u, token: strings.TrimSpace(token), http: hc}, nil
}

// Do sends method path with body (JSON-encoded unless nil) and decodes the
// response into out (unless nil). Non-2xx responses become *drawbridge.Error.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(c.base.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode response from %s: %w", path, err)
	}
	return nil
}

func transportError(host string, err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return &d.Error{Kind: d.Unavailable, Message: fmt.Sprintf("server %s did not answer in time", host), Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &d.Error{Kind: d.Unavailable, Message: fmt.Sprintf("cannot reach server %s: %v", host, rootCause(err)), Err: err}
}

func rootCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func decodeError(resp *http.Response) error {
	var body struct {
		Error struct {
			Code      d.Kind `json:"code"`
			Message   string `json:"message"`
			Field     string `json:"field"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(b, &body); err != nil || body.Error.Code == "" {
		return &d.Error{Kind: d.KindOfStatus(resp.StatusCode), Message: fmt.Sprintf("server answered %s", resp.Status)}
	}
	return &d.Error{Kind: body.Error.Code, Message: body.Error.Message, Field: body.Error.Field}
}

// DefaultTimeout bounds ordinary calls; waits and watches pass their own.
const DefaultTimeout = 30 * time.Second
