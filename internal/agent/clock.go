package agent

import (
	"net/http"
	"sync"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// grantLeft returns how long grant g may still admit new connections at
// now, on the agent's clock, for a state that arrived at receivedAt. It is
// the stricter of two deadlines:
//
//   - Remaining counted from receipt, on the monotonic clock: the agent's
//     clock cannot lengthen it, but it ends late by the time the state
//     spent between the server and us (the server computed Remaining
//     when it sent the state);
//   - NotAfter, the end on the server's clock, read on the agent's wall
//     clock: exact when the clocks agree whatever the delay, early when
//     the agent's clock is ahead, late by the skew when it is behind.
//
// So a grant outlives its end by at most the smaller of the delivery delay
// and the clock skew, never their sum, and not at all with synchronised
// clocks. now and receivedAt should both come from time.Now (monotonic).
func grantLeft(g d.GrantState, receivedAt, now time.Time) time.Duration {
	left := g.Remaining.Std() - now.Sub(receivedAt)
	if !g.NotAfter.IsZero() {
		left = min(left, g.NotAfter.Sub(now.Round(0)))
	}
	return left
}

// endedByClock counts the grants of ds that had time left by the server's
// count but not by the end read on this machine's clock, at receivedAt:
// the sign of a clock well ahead of the server's.
func endedByClock(ds *d.DesiredState, receivedAt time.Time) int {
	n := 0
	for _, g := range ds.Grants {
		if g.Remaining > 0 && grantLeft(g, receivedAt, receivedAt) <= 0 {
			n++
		}
	}
	return n
}

// clockSamples is how many recent exchanges the clock estimate picks from.
const clockSamples = 8

// clockEstimator keeps the agent's estimate of its clock against the
// server's (NTP's clock filter, simplified): of the last clockSamples
// exchanges, the one with the shortest network round trip, whose offset is
// the least uncertain. It is safe for concurrent use.
type clockEstimator struct {
	mu      sync.Mutex
	samples []d.Clock
}

func (c *clockEstimator) add(s d.Clock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) == clockSamples {
		c.samples = c.samples[1:]
	}
	c.samples = append(c.samples, s)
}

// estimate returns the current estimate, or nil before the first exchange.
func (c *clockEstimator) estimate() *d.Clock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) == 0 {
		return nil
	}
	best := c.samples[0]
	for _, s := range c.samples[1:] {
		if s.RTT < best.RTT {
			best = s
		}
	}
	return &best
}

// clockTransport samples the clock on every call to the server: the times
// the request left and the answer's headers arrived, and the server's
// times from its ServerTimeHeader.
type clockTransport struct {
	next  http.RoundTripper
	clock *clockEstimator
}

func (t *clockTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t0 := time.Now()
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	t1 := time.Now()
	if v := resp.Header.Get(d.ServerTimeHeader); v != "" {
		if recv, sent, err := d.ParseServerTime(v); err == nil {
			t.clock.add(d.Sample(t0, t1, recv, sent))
		}
	}
	return resp, nil
}
