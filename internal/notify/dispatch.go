package notify

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// Config tunes a Dispatcher. Zero fields take the defaults.
type Config struct {
	Poll        time.Duration  // how often to look for events and due deliveries (default 1s)
	Lead        time.Duration  // announce granted requests ending within this; 0 disables request.expiring
	MaxAttempts int            // failed attempts before a delivery is dead (default 8)
	Backoff     time.Duration  // wait after the first failure, doubling each time (default 30s)
	MaxBackoff  time.Duration  // longest wait between attempts (default 1h)
	Parallel    int            // deliveries in flight at once (default 8)
	Keep        time.Duration  // delivered records are deleted after this (default 7 days)
	Batch       int            // events read per transaction (default 200)
	Rand        func() float64 // backoff jitter in [0, 1] (default math/rand/v2)
}

// Defaults.
const (
	DefaultMaxAttempts = 8
	DefaultLead        = 10 * time.Minute
)

func (c *Config) setDefaults() {
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	if c.Parallel <= 0 {
		c.Parallel = 8
	}
	if c.Keep <= 0 {
		c.Keep = 7 * 24 * time.Hour
	}
	if c.Batch <= 0 {
		c.Batch = 200
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
}

// Dispatcher turns committed events into deliveries and sends them. Run it
// once per server; several servers on one PostgreSQL database share the
// work (the cursor, the expiring marks and the delivery leases are rows).
type Dispatcher struct {
	db   *store.DB
	send *Sender
	log  *slog.Logger
	now  func() time.Time
	cfg  Config

	slots chan struct{} // one per delivery in flight

	// queuedAt is the created_at of the last delivery queued from the
	// event log (only the goroutine of Run queues): each next one is a
	// microsecond later, so created_at orders a request's deliveries even
	// when the clock stands still between batches.
	queuedAt time.Time
}

// New returns a dispatcher over db that sends with send. now is the clock
// (time.Now in production).
func New(db *store.DB, send *Sender, log *slog.Logger, now func() time.Time, cfg Config) *Dispatcher {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{db: db, send: send, log: log, now: now, cfg: cfg, slots: make(chan struct{}, cfg.Parallel)}
}

// Run works until ctx is done, then waits for the attempts in flight (they
// end with ctx) and returns. Errors are logged and retried at the next poll.
func (p *Dispatcher) Run(ctx context.Context) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	var lastPrune time.Time
	for {
		if err := p.followEvents(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("webhook events", "err", err)
		}
		if err := p.announceExpiring(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("webhook expiring", "err", err)
		}
		if now := p.now(); now.Sub(lastPrune) >= time.Hour {
			if err := p.prune(ctx, now); err != nil && ctx.Err() == nil {
				p.log.Warn("webhook prune", "err", err)
			}
			lastPrune = now
		}
		if err := p.sendDue(ctx, &inflight); err != nil && ctx.Err() == nil {
			p.log.Warn("webhook deliveries", "err", err)
		}
		t := time.NewTimer(p.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// followEvents queues the deliveries of the events after the cursor and
// moves it, batch by batch, each in one transaction.
func (p *Dispatcher) followEvents(ctx context.Context) error {
	for {
		// A cheap read first: most polls find nothing and need no write lock.
		var more bool
		err := p.db.Read(ctx, func(tx *store.Tx) error {
			c, err := tx.WebhookCursor()
			if err != nil {
				return err
			}
			es, err := tx.Events(store.EventFilter{AfterID: c, Limit: 1})
			more = len(es) > 0
			return err
		})
		if err != nil || !more {
			return err
		}
		var n int
		err = p.db.Tx(ctx, func(tx *store.Tx) error {
			c, err := tx.WebhookCursor()
			if err != nil {
				return err
			}
			es, err := tx.Events(store.EventFilter{AfterID: c, Limit: p.cfg.Batch})
			if n = len(es); err != nil || n == 0 {
				return err
			}
			hooks, err := tx.Webhooks()
			if err != nil {
				return err
			}
			now := p.now()
			histories := map[d.RequestID][]d.Event{}
			for _, note := range Notes(es) {
				var to []d.Webhook
				for _, h := range hooks {
					// A webhook hears of what happened after it was created.
					if h.Wants(note.Kind) && !note.Event.Time.Before(h.CreatedAt) {
						to = append(to, h)
					}
				}
				if len(to) == 0 {
					continue
				}
				r, err := requestAsOf(tx, note.Event, histories)
				if err != nil {
					return err
				}
				// One microsecond apart: created_at orders a request's
				// deliveries, and DeliveriesDue sends them in that order.
				// The first attempt is due now all the same.
				if p.queuedAt = p.queuedAt.Add(time.Microsecond); p.queuedAt.Before(now) {
					p.queuedAt = now
				}
				if err := queue(tx, to, note.Notification(r), now, p.queuedAt); err != nil {
					return err
				}
			}
			return tx.WebhookCursorSet(es[len(es)-1].ID)
		})
		if err != nil || n < p.cfg.Batch {
			return err
		}
	}
}

// requestAsOf reads the request of event e as e left it (see AsOf); nil
// when there is none. histories caches each request's events for the batch.
func requestAsOf(tx *store.Tx, e d.Event, histories map[d.RequestID][]d.Event) (*d.Request, error) {
	id := e.RequestID
	if id == "" {
		return nil, nil
	}
	r, err := tx.Request(id)
	if d.ErrorKind(err) == d.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h, ok := histories[id]
	if !ok {
		err := tx.EventsEach(store.EventFilter{RequestID: id}, func(ev *d.Event) error {
			h = append(h, *ev)
			return nil
		})
		if err != nil {
			return nil, err
		}
		histories[id] = h
	}
	n := 0
	for n < len(h) && h[n].ID <= e.ID {
		n++
	}
	return AsOf(r, h[:n]), nil
}

// queue stores one pending delivery of n per webhook, due at now and
// ordered by created (see DeliveriesDue).
func queue(tx *store.Tx, to []d.Webhook, n d.Notification, now, created time.Time) error {
	for _, h := range to {
		v, err := d.NewDelivery(h.ID, n, now)
		if err != nil {
			return err
		}
		v.CreatedAt = created
		if err := tx.DeliveryCreate(v); err != nil {
			return err
		}
	}
	return nil
}

// announceExpiring queues request.expiring for granted requests that end
// within the lead time, once per request and end time.
func (p *Dispatcher) announceExpiring(ctx context.Context) error {
	if p.cfg.Lead <= 0 {
		return nil
	}
	now := p.now()
	var ids []d.RequestID
	err := p.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		ids, err = tx.RequestsEndingBetween(now, now.Add(p.cfg.Lead))
		return err
	})
	if err != nil || len(ids) == 0 {
		return err
	}
	return p.db.Tx(ctx, func(tx *store.Tx) error {
		ids, err := tx.RequestsEndingBetween(now, now.Add(p.cfg.Lead))
		if err != nil || len(ids) == 0 {
			return err
		}
		hooks, err := tx.Webhooks()
		if err != nil {
			return err
		}
		var to []d.Webhook
		for _, h := range hooks {
			if h.Wants(d.NotifyExpiring) {
				to = append(to, h)
			}
		}
		for _, id := range ids {
			r, err := tx.Request(id)
			if err != nil {
				return err
			}
			fresh, err := tx.ExpiringMark(id, r.End)
			if err != nil {
				return err
			}
			if !fresh {
				continue
			}
			if err := queue(tx, to, Expiring(r, now), now, now); err != nil {
				return err
			}
		}
		return tx.ExpiringPrune(now)
	})
}

func (p *Dispatcher) prune(ctx context.Context, now time.Time) error {
	return p.db.Tx(ctx, func(tx *store.Tx) error {
		n, err := tx.DeliveriesPrune(now.Add(-p.cfg.Keep))
		if err == nil && n > 0 {
			p.log.Debug("webhook deliveries pruned", "count", n)
		}
		return err
	})
}

// claim is a delivery leased to this dispatcher, with its webhook.
type claim struct {
	v    d.Delivery
	hook *d.Webhook
}

// sendDue leases as many due deliveries as there are free slots (moving
// their next attempt past the attempt's timeout, so no other server takes
// them meanwhile, and so a crash mid-send retries them later) and starts an
// attempt for each.
func (p *Dispatcher) sendDue(ctx context.Context, inflight *sync.WaitGroup) error {
	free := cap(p.slots) - len(p.slots)
	if free == 0 {
		return nil
	}
	now := p.now()
	var due []d.Delivery
	err := p.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		due, err = tx.DeliveriesDue(now, free)
		return err
	})
	if err != nil || len(due) == 0 {
		return err
	}
	var claims []claim
	err = p.db.Tx(ctx, func(tx *store.Tx) error {
		claims = nil
		due, err := tx.DeliveriesDue(now, free)
		if err != nil {
			return err
		}
		hooks := map[d.WebhookID]*d.Webhook{}
		for _, v := range due {
			h, ok := hooks[v.WebhookID]
			if !ok {
				if h, err = tx.Webhook(v.WebhookID); err != nil {
					return err
				}
				hooks[v.WebhookID] = h
			}
			v.NextAttempt = now.Add(p.send.Timeout() + 30*time.Second)
			if err := tx.DeliveryUpdate(&v); err != nil {
				return err
			}
			claims = append(claims, claim{v: v, hook: h})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range claims {
		p.slots <- struct{}{} // never blocks: at most free claims
		inflight.Go(func() {
			defer func() { <-p.slots }()
			p.attempt(ctx, c)
		})
	}
	return nil
}

// attempt sends one delivery and records the outcome: delivered, pending
// with its next attempt after Backoff, or dead after MaxAttempts failures.
func (p *Dispatcher) attempt(ctx context.Context, c claim) {
	v, h := c.v, c.hook
	body, err := Render(h.Format, v.Body)
	status := 0
	if err == nil {
		status, err = p.send.Send(ctx, h, v.ID, v.Kind, body, p.now())
	}
	if err != nil && ctx.Err() != nil {
		return // shutting down: the lease runs out and a later run retries it
	}
	now := p.now()
	v.Attempts++
	v.LastStatus, v.UpdatedAt = status, now
	log := p.log.With("delivery", v.ID, "webhook", h.ID, "event", v.Kind, "attempt", v.Attempts)
	switch {
	case err == nil:
		v.Status, v.LastError, v.NextAttempt = d.DeliveryDelivered, "", time.Time{}
		log.Debug("webhook delivered", "status", status)
	case v.Attempts >= p.cfg.MaxAttempts:
		v.Status, v.LastError, v.NextAttempt = d.DeliveryDead, err.Error(), time.Time{}
		log.Warn("webhook delivery dead", "err", err)
	default:
		v.LastError = err.Error()
		v.NextAttempt = now.Add(Backoff(v.Attempts, p.cfg.Backoff, p.cfg.MaxBackoff, p.cfg.Rand()))
		log.Info("webhook delivery failed; will retry", "err", err, "next_attempt", v.NextAttempt)
	}
	// Record the outcome even while shutting down: a delivery that went
	// through must not be sent again.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = p.db.Tx(wctx, func(tx *store.Tx) error { return tx.DeliveryUpdate(&v) })
	if err != nil && d.ErrorKind(err) != d.NotFound { // NotFound: the webhook was deleted meanwhile
		log.Error("webhook delivery not recorded", "err", err)
	}
}
