package control

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// Refused attempts reach the audit log at most refusalBurst at once per
// caller, refilled at one per refusalEvery (10 a minute), and at most
// globalBurst at once for all callers together, refilled at one per
// globalEvery (600 a minute). Beyond that they are counted and summed up in
// one EvAccessSuppressed event per caller.
const (
	refusalBurst = 10
	refusalEvery = 6 * time.Second
	globalBurst  = 100
	globalEvery  = 100 * time.Millisecond
)

// refusalLimiter decides which refused attempts are audited: a token bucket
// per caller and one for everyone. It is pure logic over the times it is
// given, safe for concurrent use.
type refusalLimiter struct {
	mu      sync.Mutex
	callers map[string]*refusalBucket
	global  bucket
}

type refusalBucket struct {
	bucket
	actor      d.Actor // the latest, for the summary event
	suppressed int     // refusals not audited since the last one that was
}

// bucket is a token bucket: tokens refill at one per every, up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// take refills the bucket to now and takes a token if there is one.
func (b *bucket) take(now time.Time, burst int, every time.Duration) bool {
	b.refill(now, burst, every)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) refill(now time.Time, burst int, every time.Duration) {
	if b.last.IsZero() {
		b.tokens, b.last = float64(burst), now
		return
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(float64(burst), b.tokens+float64(dt)/float64(every))
		b.last = now
	}
}

func newRefusalLimiter() *refusalLimiter {
	return &refusalLimiter{callers: map[string]*refusalBucket{}}
}

// Allow reports whether a refusal of actor at now is audited, and if so how
// many of the actor's refusals were suppressed before it (to be summed up
// first).
func (l *refusalLimiter) Allow(a d.Actor, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.callers[a.Subject()]
	if b == nil {
		b = &refusalBucket{}
		l.callers[a.Subject()] = b
	}
	b.actor = a
	// Check the caller's bucket first, so a flood from one caller does not
	// use up everyone's.
	if !b.take(now, refusalBurst, refusalEvery) || !l.global.take(now, globalBurst, globalEvery) {
		b.suppressed++
		return false, 0
	}
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}

// suppressedRun is one caller's refusals that were not audited.
type suppressedRun struct {
	actor d.Actor
	n     int
}

// Flush returns, and forgets, the suppressed refusals of callers whose
// bucket is full again at now (their flood is over: the summary is written
// now rather than with some later refusal), and drops callers with nothing
// to report and a full bucket, so the limiter's memory stays bounded.
func (l *refusalLimiter) Flush(now time.Time) []suppressedRun {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []suppressedRun
	for k, b := range l.callers {
		b.refill(now, refusalBurst, refusalEvery)
		if b.tokens < refusalBurst {
			continue
		}
		if b.suppressed > 0 {
			out = append(out, suppressedRun{b.actor, b.suppressed})
		}
		delete(l.callers, k)
	}
	return out
}

// AuditRefusal records that an authenticated caller's attempt was refused
// — a Forbidden (403: EvAccessDenied, self-approval included) or an Invalid
// or TooLarge (400, 413: EvRequestRefused) — in its own transaction, as the
// refused change was not written: who, from where, the route (method and
// pattern), the path and the reason. Other errors are not refusals and are
// ignored. Bounded per caller (refusalLimiter); nothing is written while
// the disk is full (the room is kept for revocations). Failures are logged,
// not returned: failing to record a refusal must not change the answer.
func (s *Service) AuditRefusal(ctx context.Context, a d.Actor, route, path string, cause error) {
	var action string
	switch d.ErrorKind(cause) {
	case d.Forbidden:
		action = d.EvAccessDenied
	case d.Invalid, d.TooLarge:
		action = d.EvRequestRefused
	default:
		return
	}
	now := s.now()
	ok, suppressed := s.refusals.Allow(a, now)
	if !ok || s.db.Full() {
		return
	}
	details := map[string]any{"route": clean(route, 128)}
	if e := d.AsError(cause); e != nil && e.Field != "" {
		details["field"] = clean(e.Field, 128)
	}
	es := []*d.Event{event(now, a, action, clean(path, 256), d.ResultFailure, clean(publicMessage(cause), 512), "", details)}
	if suppressed > 0 {
		es = append([]*d.Event{suppressedEvent(now, a, suppressed)}, es...)
	}
	s.appendRefusals(ctx, es)
}

// FlushRefusals writes the summary events of callers whose flood of refused
// attempts is over, and returns how many it wrote. RunExpiry runs it.
func (s *Service) FlushRefusals(ctx context.Context) (int, error) {
	now := s.now()
	runs := s.refusals.Flush(now)
	if len(runs) == 0 {
		return 0, nil
	}
	es := make([]*d.Event, len(runs))
	for i, r := range runs {
		es[i] = suppressedEvent(now, r.actor, r.n)
	}
	s.appendRefusals(ctx, es)
	return len(es), nil
}

func suppressedEvent(now time.Time, a d.Actor, n int) *d.Event {
	return event(now, a, d.EvAccessSuppressed, a.Subject(), d.ResultFailure, fmt.Sprintf("%d more refused attempts suppressed", n), "", map[string]any{"suppressed": n})
}

func (s *Service) appendRefusals(ctx context.Context, es []*d.Event) {
	// The caller may have hung up already; the record is still due.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := s.update(ctx, func(tx *store.Tx, _ time.Time) error {
		for _, e := range es {
			if err := tx.EventAppend(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("audit refused attempt", "actor", es[0].Actor, "action", es[len(es)-1].Action, "err", err)
	}
}

// clean makes s safe for the audit log: valid UTF-8, no control
// characters, at most max bytes, cut on a rune boundary.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
