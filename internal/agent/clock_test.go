package agent

import (
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// TestGrantLeft checks when a grant closes, in the server's (true) time,
// for a state the server sent at its time sent, that took delay to arrive,
// on an agent whose clock is skew ahead of the server's (negative: behind).
// The overrun is how long after the grant's end it still admits new
// connections: never more than the smaller of the delay and the skew.
func TestGrantLeft(t *testing.T) {
	sent := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	end := sent.Add(10 * time.Second)
	tests := []struct {
		name         string
		delay, skew  time.Duration
		after        time.Duration // time since receipt when the agent computes
		wantOverrun  time.Duration
		wantInstalls bool
	}{
		{name: "synced, no delay", wantOverrun: 0, wantInstalls: true},
		{name: "synced, large delay", delay: 2500 * time.Millisecond, wantOverrun: 0, wantInstalls: true},
		{name: "synced, delay, repair later", delay: 2500 * time.Millisecond, after: 4 * time.Second, wantOverrun: 0, wantInstalls: true},
		{name: "agent ahead, delay", delay: 2500 * time.Millisecond, skew: time.Second, wantOverrun: -time.Second, wantInstalls: true},
		{name: "agent ahead beyond the end", delay: 100 * time.Millisecond, skew: time.Minute, wantInstalls: false},
		{name: "agent behind less than the delay", delay: 2500 * time.Millisecond, skew: -time.Second, wantOverrun: time.Second, wantInstalls: true},
		{name: "agent behind more than the delay", delay: 800 * time.Millisecond, skew: -5 * time.Second, wantOverrun: 800 * time.Millisecond, wantInstalls: true},
		{name: "agent far behind, large delay", delay: 8 * time.Second, skew: -time.Hour, wantOverrun: 8 * time.Second, wantInstalls: true},
		{name: "delay longer than the grant, synced", delay: 11 * time.Second, wantInstalls: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := d.GrantState{Remaining: d.Duration(end.Sub(sent)), NotAfter: end}
			// The agent's clock reads the true time plus skew.
			trueReceived := sent.Add(tt.delay)
			received := trueReceived.Add(tt.skew)
			now := received.Add(tt.after)
			left := grantLeft(g, received, now)
			if left <= 0 {
				if tt.wantInstalls {
					t.Fatalf("grantLeft = %v, want the grant installed", left)
				}
				return
			}
			if !tt.wantInstalls {
				t.Fatalf("grantLeft = %v, want nothing left", left)
			}
			closes := trueReceived.Add(tt.after).Add(left) // in true time
			if got := closes.Sub(end); got != tt.wantOverrun {
				t.Errorf("closes %v after the end, want %v (left %v)", got, tt.wantOverrun, left)
			}
		})
	}
}

// TestGrantLeftNoEnd keeps the remaining time alone when the server sent no
// end (an older server).
func TestGrantLeftNoEnd(t *testing.T) {
	now := time.Now()
	g := d.GrantState{Remaining: d.Duration(time.Minute)}
	if got := grantLeft(g, now.Add(-time.Second), now); got != 59*time.Second {
		t.Errorf("grantLeft = %v, want 59s", got)
	}
}

func TestClockEstimatorPicksShortestRoundTrip(t *testing.T) {
	var c clockEstimator
	if c.estimate() != nil {
		t.Fatal("estimate before any sample")
	}
	for i, s := range []d.Clock{
		{Offset: d.Offset(900 * time.Millisecond), RTT: d.Duration(2 * time.Second)},
		{Offset: d.Offset(10 * time.Millisecond), RTT: d.Duration(5 * time.Millisecond)},
		{Offset: d.Offset(300 * time.Millisecond), RTT: d.Duration(600 * time.Millisecond)},
	} {
		c.add(s)
		if i == 0 && c.estimate().Offset != s.Offset {
			t.Fatalf("estimate = %+v after one sample %+v", c.estimate(), s)
		}
	}
	if got := c.estimate(); got.Offset != d.Offset(10*time.Millisecond) {
		t.Errorf("estimate = %+v, want the 5ms round trip's", got)
	}
	for range clockSamples {
		c.add(d.Clock{Offset: d.Offset(time.Second), RTT: d.Duration(time.Second)})
	}
	if got := c.estimate(); got.Offset != d.Offset(time.Second) {
		t.Errorf("estimate = %+v, want old samples forgotten", got)
	}
}

func TestSameInventory(t *testing.T) {
	clock := func(ms int) *d.Clock { return &d.Clock{Offset: d.Offset(time.Duration(ms) * time.Millisecond)} }
	base := d.Inventory{Hostname: "web-1", Clock: clock(10)}
	tests := []struct {
		name string
		next d.Inventory
		same bool
	}{
		{"unchanged", d.Inventory{Hostname: "web-1", Clock: clock(10)}, true},
		{"clock moved a little", d.Inventory{Hostname: "web-1", Clock: clock(60)}, true},
		{"clock moved", d.Inventory{Hostname: "web-1", Clock: clock(200)}, false},
		{"clock gone", d.Inventory{Hostname: "web-1"}, false},
		{"host changed", d.Inventory{Hostname: "web-2", Clock: clock(10)}, false},
	}
	for _, tt := range tests {
		if got := sameInventory(tt.next, base); got != tt.same {
			t.Errorf("%s: sameInventory = %v, want %v", tt.name, got, tt.same)
		}
	}
}

func TestEndedByClock(t *testing.T) {
	now := time.Now()
	ds := &d.DesiredState{Grants: []d.GrantState{
		{Remaining: d.Duration(time.Minute), NotAfter: now.Add(time.Minute)},
		{Remaining: d.Duration(time.Minute), NotAfter: now.Add(-time.Second)}, // this clock is over a minute ahead
		{Remaining: d.Duration(time.Minute)},                                  // no end sent
	}}
	if got := endedByClock(ds, now); got != 1 {
		t.Errorf("endedByClock = %d, want 1", got)
	}
}
