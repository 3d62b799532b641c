package control

import (
	"context"
	"fmt"
	"net/url"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// Webhook administration. Delivery itself is internal/notify's Dispatcher,
// which the server runs; these use cases only change rows, so none of them
// waits for a receiver. All need the admin action.

// WebhookCreate registers a webhook. Without a secret one is generated. The
// answer is the only time the secret is returned. Invalid names the field.
func (s *Service) WebhookCreate(ctx context.Context, a d.Actor, in d.WebhookInput) (*d.Webhook, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	w, err := d.CheckWebhook(in)
	if err != nil {
		return nil, err
	}
	w.Secret = in.Secret
	if w.Secret == "" {
		w.Secret = d.NewWebhookSecret()
	}
	w.ID, w.CreatedAt, w.CreatedBy = d.NewWebhookID(), s.now(), a.Subject()
	err = s.update(ctx, func(tx *store.Tx, _ time.Time) error {
		if err := tx.WebhookCreate(&w); err != nil {
			return err
		}
		// The URL's host only: a Slack webhook URL's path is a credential.
		return s.audit(tx, w.CreatedAt, a, d.EvWebhookCreated, string(w.ID), "", "",
			map[string]any{"host": urlHost(w.URL), "events": w.Kinds, "format": w.Format})
	})
	if err != nil {
		return nil, err
	}
	return &w, nil
}

func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// Webhooks lists the webhooks, without their secrets.
func (s *Service) Webhooks(ctx context.Context, a d.Actor) ([]d.Webhook, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	var ws []d.Webhook
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		ws, err = tx.Webhooks()
		return err
	})
	for i := range ws {
		ws[i].Secret = ""
	}
	return ws, err
}

func webhookID(id d.WebhookID) error {
	if !d.ValidID(string(id), d.WebhookPrefix) {
		return d.FieldErrorf("id", "malformed webhook ID %s", d.Excerpt(string(id)))
	}
	return nil
}

// WebhookDelete deletes a webhook and its deliveries, pending and dead.
// NotFound if there is none.
func (s *Service) WebhookDelete(ctx context.Context, a d.Actor, id d.WebhookID) error {
	if err := s.require(a, d.ActAdmin); err != nil {
		return err
	}
	if err := webhookID(id); err != nil {
		return err
	}
	return s.update(ctx, func(tx *store.Tx, now time.Time) error {
		if err := tx.WebhookDelete(id); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvWebhookDeleted, string(id), "", "", nil)
	})
}

// WebhookTest queues a webhook.test delivery to the webhook (whatever it
// subscribes to) and returns it; the dispatcher sends it within its poll
// interval, and Delivery shows the outcome.
func (s *Service) WebhookTest(ctx context.Context, a d.Actor, id d.WebhookID) (*d.Delivery, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	if err := webhookID(id); err != nil {
		return nil, err
	}
	var v *d.Delivery
	err := s.update(ctx, func(tx *store.Tx, now time.Time) error {
		if _, err := tx.Webhook(id); err != nil {
			return err
		}
		n := d.Notification{Kind: d.NotifyTest, Time: now, Actor: a.Subject(), ActorName: a.Name, Reason: "test requested by " + a.Name}
		var err error
		if v, err = d.NewDelivery(id, n, now); err != nil {
			return err
		}
		if err := tx.DeliveryCreate(v); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvWebhookTested, string(id), "", "", map[string]any{"delivery": v.ID})
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// DeliveryFilter selects webhook deliveries. It has the fields of
// store.DeliveryFilter, which it converts to.
type DeliveryFilter struct {
	WebhookID d.WebhookID
	Status    d.DeliveryStatus
	Limit     int // 0 means DefaultLimit, more than MaxLimit means MaxLimit
}

// Deliveries lists deliveries, newest first: of one webhook, in one status
// (dead: the dead-letter records), or all.
func (s *Service) Deliveries(ctx context.Context, a d.Actor, f DeliveryFilter) ([]d.Delivery, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	if f.WebhookID != "" {
		if err := webhookID(f.WebhookID); err != nil {
			return nil, d.WithField(err, "webhook")
		}
	}
	switch f.Status {
	case "", d.DeliveryPending, d.DeliveryDelivered, d.DeliveryDead:
	default:
		return nil, d.FieldErrorf("status", "status must be pending, delivered or dead")
	}
	var vs []d.Delivery
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		vs, err = tx.Deliveries(store.DeliveryFilter(f))
		return err
	})
	return vs, err
}

// Delivery returns one delivery. NotFound if there is none.
func (s *Service) Delivery(ctx context.Context, a d.Actor, id d.DeliveryID) (*d.Delivery, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	if !d.ValidID(string(id), d.DeliveryPrefix) {
		return nil, d.FieldErrorf("id", "malformed delivery ID %s", d.Excerpt(string(id)))
	}
	var v *d.Delivery
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		v, err = tx.Delivery(id)
		return err
	})
	return v, err
}

// DeliveryRetry gives a dead delivery a fresh set of attempts, the first
// at once. Conflict unless it is dead.
func (s *Service) DeliveryRetry(ctx context.Context, a d.Actor, id d.DeliveryID) (*d.Delivery, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	if !d.ValidID(string(id), d.DeliveryPrefix) {
		return nil, d.FieldErrorf("id", "malformed delivery ID %s", d.Excerpt(string(id)))
	}
	var v *d.Delivery
	err := s.update(ctx, func(tx *store.Tx, now time.Time) error {
		var err error
		if v, err = tx.Delivery(id); err != nil {
			return err
		}
		if v.Status != d.DeliveryDead {
			return &d.Error{Kind: d.Conflict, Message: fmt.Sprintf("delivery %s is %s; only dead deliveries are retried", id, v.Status)}
		}
		v.Status, v.Attempts, v.NextAttempt = d.DeliveryPending, 0, now
		if err := tx.DeliveryUpdate(v); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvDeliveryRetried, string(id), "", "", map[string]any{"webhook": v.WebhookID})
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}
