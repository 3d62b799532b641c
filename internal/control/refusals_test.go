package control

import (
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// TestRefusalLimiter: per caller, a burst of refusals is audited, the rest
// are counted and reported with the next one let through or by Flush once
// the caller is quiet; callers do not share a bucket, the global one bounds
// them all, and quiet callers are forgotten (issue 7, item 16).
func TestRefusalLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mallory := d.Actor{Kind: d.ActorToken, ID: "tok_mallory", Name: "mallory"}
	alice := d.Actor{Kind: d.ActorToken, ID: "tok_alice", Name: "alice"}
	l := newRefusalLimiter()

	audited := 0
	for range 100 {
		if ok, n := l.Allow(mallory, t0); ok {
			audited++
			if n != 0 {
				t.Fatalf("suppressed %d reported within the burst", n)
			}
		}
	}
	if audited != refusalBurst {
		t.Errorf("a flood of 100 at one instant: %d audited, want the burst %d", audited, refusalBurst)
	}
	if ok, _ := l.Allow(alice, t0); !ok {
		t.Error("another caller is refused a record because of mallory's flood")
	}
	if ok, _ := l.Allow(mallory, t0.Add(refusalEvery-time.Nanosecond)); ok {
		t.Error("a refusal audited before a token was refilled")
	}
	ok, n := l.Allow(mallory, t0.Add(2*refusalEvery))
	if !ok || n != 91 {
		t.Errorf("after a refill: ok %v, %d reported suppressed; want true, 91", ok, n)
	}
	if runs := l.Flush(t0.Add(2 * refusalEvery)); len(runs) != 0 {
		t.Errorf("flushed %+v while mallory's bucket is not full", runs)
	}

	// A flood that stops is summed up once the bucket is full again. (One
	// token is left from the refill: the first of these five is audited.)
	for range 5 {
		l.Allow(mallory, t0.Add(2*refusalEvery))
	}
	quiet := t0.Add(2*refusalEvery + refusalBurst*refusalEvery)
	runs := l.Flush(quiet)
	if len(runs) != 1 || runs[0].actor.ID != mallory.ID || runs[0].n != 4 {
		t.Errorf("flush when quiet = %+v, want mallory's 4", runs)
	}
	if len(l.callers) != 0 {
		t.Errorf("%d callers remembered after everyone went quiet, want none", len(l.callers))
	}
	if ok, n := l.Allow(mallory, quiet); !ok || n != 0 {
		t.Errorf("after the flush: ok %v, %d suppressed; want true, 0 (already reported)", ok, n)
	}

	// The global bucket bounds every caller together.
	g := newRefusalLimiter()
	total := 0
	for i := range 1000 {
		a := d.Actor{Kind: d.ActorToken, ID: "tok_" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))}
		if ok, _ := g.Allow(a, t0); ok {
			total++
		}
	}
	if total != globalBurst {
		t.Errorf("1000 callers at one instant: %d audited, want the global burst %d", total, globalBurst)
	}
}
