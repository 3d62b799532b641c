package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	d "github.com/drawbridge/drawbridge"
)

// DefaultTimeout bounds one delivery attempt: connect, send, and answer.
const DefaultTimeout = 10 * time.Second

// Sender posts signed bodies to webhooks. It is safe for concurrent use.
type Sender struct {
	client  *http.Client
	timeout time.Duration
}

// NewSender returns a sender whose attempts each take at most timeout (0
// means DefaultTimeout), over rt (nil: a transport like
// http.DefaultTransport's, with proxies from the environment). It follows
// redirects only to the same scheme and host, at most three; the answer to
// any other redirect counts as a failed attempt.
func NewSender(timeout time.Duration, rt http.RoundTripper) *Sender {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 4
		t.ResponseHeaderTimeout = timeout
		rt = t
	}
	return &Sender{
		timeout: timeout,
		client: &http.Client{
			Transport: rt,
			Timeout:   timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				first := via[0].URL
				if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host || len(via) > 3 || req.Method != http.MethodPost {
					return http.ErrUseLastResponse
				}
				return nil
			},
		},
	}
}

// Timeout returns the bound on one attempt.
func (s *Sender) Timeout() time.Duration { return s.timeout }

// Send posts body to w's URL, signed with w's secret at now, with the
// delivery's ID and kind in headers. It returns the receiver's HTTP status
// (0 if none) and an error unless the status is 2xx. Errors name neither the
// URL nor the secret.
func (s *Sender) Send(ctx context.Context, w *d.Webhook, id d.DeliveryID, kind d.NotificationKind, body []byte, now time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Drawbridge-Webhook/1")
	req.Header.Set(SignatureHeader, Sign(w.Secret, now, body))
	req.Header.Set("Drawbridge-Delivery", string(id))
	req.Header.Set("Drawbridge-Event", string(kind))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, transportError(err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	msg := "HTTP " + resp.Status
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg += " (redirect not followed: only to the same scheme and host)"
	} else if s := printable(snippet); s != "" {
		msg += ": " + s
	}
	return resp.StatusCode, errors.New(msg)
}

// transportError describes a failed round trip without the URL, which
// url.Error would repeat (a Slack webhook URL is a credential).
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errors.New("timed out waiting for the receiver")
	case errors.Is(err, context.Canceled):
		return errors.New("canceled")
	}
	return fmt.Errorf("%v", err)
}

// printable returns the first line of b with control characters dropped,
// at most 200 bytes.
func printable(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
