package control

import (
	"context"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// ExpirePending ends requests whose approval did not come within the
// pending TTL. It returns how many it expired.
func (s *Service) ExpirePending(ctx context.Context) (int, error) {
	return s.sweep(ctx, func(tx *store.Tx, now time.Time, out *swept) error {
		ids, err := tx.RequestsPendingDue(now)
		if err != nil {
			return err
		}
		for _, id := range ids {
			r, err := tx.Request(id)
			if err != nil {
				return err
			}
			for i := range r.Targets {
				if r.Targets[i].ExpirePending("not approved within " + r.Approval.PendingTTL.String()) {
					if err := tx.TargetUpdate(&r.Targets[i]); err != nil {
						return err
					}
				}
			}
			r.Status, r.PendingUntil = d.AggregateStatus(r.Targets), time.Time{}
			if err := tx.RequestUpdate(r); err != nil {
				return err
			}
			if err := s.audit(tx, now, d.SystemActor, d.EvRequestExpired, string(r.ID), "not approved in time", r.ID, nil); err != nil {
				return err
			}
			out.n++
		}
		return nil
	})
}

// Expire records expiry of every grant whose end time has passed. The
// kernel has already closed them; this keeps the record true even when the
// agent is away. It returns how many targets it expired.
func (s *Service) Expire(ctx context.Context) (int, error) {
	return s.sweep(ctx, func(tx *store.Tx, now time.Time, out *swept) error {
		ts, err := tx.TargetsDue(now)
		if err != nil {
			return err
		}
		if err := tx.AttachUsage(ts); err != nil {
			return err
		}
		reqs := map[d.RequestID]bool{}
		for i := range ts {
			t := &ts[i]
			if !t.Expire(now) {
				continue
			}
			if err := tx.TargetUpdate(t); err != nil {
				return err
			}
			if err := s.audit(tx, now, d.SystemActor, d.EvRequestExpired, string(t.ID), "end time reached; "+t.Usage.Summary(), t.RequestID, usageDetails(t)); err != nil {
				return err
			}
			reqs[t.RequestID] = true
			out.n++
		}
		return refreshRequests(tx, reqs)
	})
}

// swept is what one sweep changed: how many things.
type swept struct {
	n int
}

// sweep runs fn in one transaction (update; afresh on a retry). It returns
// how many things fn changed.
func (s *Service) sweep(ctx context.Context, fn func(tx *store.Tx, now time.Time, out *swept) error) (int, error) {
	var out swept
	err := s.update(ctx, func(tx *store.Tx, now time.Time) error {
		out = swept{}
		return fn(tx, now, &out)
	})
	if err != nil {
		return 0, err
	}
	return out.n, nil
}

// RunExpiry records expired grants and expired pending requests, and the
// summaries of floods of refused attempts that are over, every
// interval until ctx ends.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration) {
	s.every(ctx, interval, map[string]func(context.Context) (int, error){
		"expire grants":             s.Expire,
		"expire pending requests":   s.ExpirePending,
		"audit suppressed refusals": s.FlushRefusals,
	})
}

// every runs each sweep every interval until ctx ends, logging failures.
func (s *Service) every(ctx context.Context, interval time.Duration, sweeps map[string]func(context.Context) (int, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for what, sweep := range sweeps {
				if _, err := sweep(ctx); err != nil && ctx.Err() == nil {
					s.log.Error(what, "err", err)
				}
			}
		}
	}
}

// refreshRequests recomputes the status of each request in ids.
func refreshRequests(tx *store.Tx, ids map[d.RequestID]bool) error {
	for id := range ids {
		if err := refreshRequestStatus(tx, id); err != nil {
			return err
		}
	}
	return nil
}
