package store_test

import (
	"slices"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/pgtest"
	"github.com/drawbridge/drawbridge/internal/store"
)

// TestWebhooks runs the webhook part of the store contract against both
// dialects.
func TestWebhooks(t *testing.T) {
	for _, tt := range []struct {
		name string
		db   database
	}{
		{"sqlite", func(t *testing.T) (string, string) { return "", t.TempDir() }},
		{"postgres", func(t *testing.T) (string, string) { return pgtest.DSN(t), "" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fresh := func(t *testing.T) *store.DB { dsn, dir := tt.db(t); return open(t, dsn, dir) }
			t.Run("Webhooks", func(t *testing.T) { testWebhooks(t, fresh(t)) })
			t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, fresh(t)) })
			t.Run("Expiring", func(t *testing.T) { testExpiring(t, fresh(t)) })
			t.Run("DeliveryOrder", func(t *testing.T) { testDeliveryOrder(t, fresh(t)) })
		})
	}
}

func newWebhook(t *testing.T, db *store.DB) *d.Webhook {
	t.Helper()
	w := &d.Webhook{ID: d.NewWebhookID(), URL: "https://hooks.example.com/x", Secret: "whsec_0123456789abcdef",
		Kinds: []d.NotificationKind{d.NotifyCreated, d.NotifyExpiring}, Format: d.FormatSlack, AllowHTTP: true,
		CreatedAt: t0, CreatedBy: "token:tok_admin"}
	mustTx(t, db, func(tx *store.Tx) error { return tx.WebhookCreate(w) })
	return w
}

func testWebhooks(t *testing.T, db *store.DB) {
	w := newWebhook(t, db)
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Webhook(w.ID)
		if err != nil {
			return err
		}
		diff(t, "Webhook", w, got) // with its secret: the dispatcher signs with it
		all, err := tx.Webhooks()
		diff(t, "Webhooks", []d.Webhook{*w}, all)
		_, err2 := tx.Webhook("whk_missing00000")
		wantKind(t, "Webhook(missing)", err2, d.NotFound)
		return err
	})
	err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.WebhookCreate(w) })
	wantKind(t, "WebhookCreate(duplicate)", err, d.Conflict)

	// The cursor starts at the newest event (none here) and moves.
	mustTx(t, db, func(tx *store.Tx) error {
		c, err := tx.WebhookCursor()
		if err != nil || c != 0 {
			t.Errorf("WebhookCursor = %d, %v; want 0", c, err)
		}
		if err := tx.WebhookCursorSet(42); err != nil {
			return err
		}
		c, err = tx.WebhookCursor()
		if c != 42 {
			t.Errorf("WebhookCursor after set = %d, want 42", c)
		}
		return err
	})

	mustTx(t, db, func(tx *store.Tx) error { return tx.WebhookDelete(w.ID) })
	err = db.Tx(t.Context(), func(tx *store.Tx) error { return tx.WebhookDelete(w.ID) })
	wantKind(t, "WebhookDelete(again)", err, d.NotFound)
}

func testDeliveries(t *testing.T, db *store.DB) {
	w := newWebhook(t, db)
	n := d.Notification{Kind: d.NotifyCreated, Time: t0, EventID: 7}
	a, err := d.NewDelivery(w.ID, n, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := d.NewDelivery(w.ID, d.Notification{Kind: d.NotifyTest, Time: t0}, t0.Add(time.Minute))
	mustTx(t, db, func(tx *store.Tx) error {
		if err := tx.DeliveryCreate(a); err != nil {
			return err
		}
		return tx.DeliveryCreate(b)
	})
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Delivery(a.ID)
		if err != nil {
			return err
		}
		diff(t, "Delivery", a, got)
		due, err := tx.DeliveriesDue(t0, 10)
		if len(due) != 1 || due[0].ID != a.ID {
			t.Errorf("DeliveriesDue(t0) = %v, want only %s", due, a.ID)
		}
		all, err2 := tx.Deliveries(store.DeliveryFilter{WebhookID: w.ID})
		if len(all) != 2 || all[0].ID != b.ID {
			t.Errorf("Deliveries = %d, newest first want %s first", len(all), b.ID)
		}
		if err == nil {
			err = err2
		}
		return err
	})

	a.Status, a.Attempts, a.LastStatus, a.LastError, a.NextAttempt, a.UpdatedAt = d.DeliveryDead, 8, 503, "HTTP 503", time.Time{}, t0.Add(time.Hour)
	b.Status, b.Attempts, b.UpdatedAt, b.NextAttempt = d.DeliveryDelivered, 1, t0.Add(time.Hour), time.Time{}
	mustTx(t, db, func(tx *store.Tx) error {
		if err := tx.DeliveryUpdate(a); err != nil {
			return err
		}
		return tx.DeliveryUpdate(b)
	})
	mustTx(t, db, func(tx *store.Tx) error {
		dead, err := tx.Deliveries(store.DeliveryFilter{Status: d.DeliveryDead})
		if err != nil {
			return err
		}
		diff(t, "dead deliveries", []d.Delivery{*a}, dead)
		due, err := tx.DeliveriesDue(t0.Add(24*time.Hour), 10)
		if len(due) != 0 {
			t.Errorf("DeliveriesDue after dead and delivered = %d, want 0", len(due))
		}
		n, err := tx.DeliveriesPrune(t0.Add(2 * time.Hour))
		if n != 1 {
			t.Errorf("DeliveriesPrune = %d, want 1 (the delivered one; the dead one stays)", n)
		}
		return err
	})
	mustTx(t, db, func(tx *store.Tx) error { return tx.WebhookDelete(w.ID) })
	mustRead(t, db, func(tx *store.Tx) error {
		_, err := tx.Delivery(a.ID)
		wantKind(t, "Delivery after webhook delete", err, d.NotFound)
		return nil
	})
}

func testExpiring(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "web-1")
	active := request("token:tok_alice", t0, d.StatusActive, ms, 22) // ends t0+1h
	pending := request("token:tok_alice", t0, d.StatusPending, ms, 22)
	mustTx(t, db, func(tx *store.Tx) error {
		if err := tx.RequestCreate(active); err != nil {
			return err
		}
		return tx.RequestCreate(pending)
	})
	now := active.End.Add(-5 * time.Minute)
	mustTx(t, db, func(tx *store.Tx) error {
		ids, err := tx.RequestsEndingBetween(now, now.Add(10*time.Minute))
		if err != nil {
			return err
		}
		diff(t, "RequestsEndingBetween", []d.RequestID{active.ID}, ids)
		if ids, _ := tx.RequestsEndingBetween(now, now.Add(time.Minute)); len(ids) != 0 {
			t.Errorf("RequestsEndingBetween outside the lead = %v, want none", ids)
		}
		fresh, err := tx.ExpiringMark(active.ID, active.End)
		if err != nil || !fresh {
			t.Errorf("ExpiringMark = %v, %v; want true", fresh, err)
		}
		fresh, err = tx.ExpiringMark(active.ID, active.End)
		if err != nil || fresh {
			t.Errorf("ExpiringMark again = %v, %v; want false", fresh, err)
		}
		ids, err = tx.RequestsEndingBetween(now, now.Add(10*time.Minute))
		if len(ids) != 0 {
			t.Errorf("RequestsEndingBetween after the mark = %v, want none", ids)
		}
		// An extension moves the end: announced again.
		active.End = active.End.Add(2 * time.Minute)
		if err := tx.RequestUpdate(active); err != nil {
			return err
		}
		ids, err = tx.RequestsEndingBetween(now, now.Add(10*time.Minute))
		diff(t, "RequestsEndingBetween after an extension", []d.RequestID{active.ID}, ids)
		return errOr(err, tx.ExpiringPrune(active.End.Add(time.Hour)))
	})
}

func errOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// testDeliveryOrder: a request's deliveries to one webhook are due one at a
// time, in the order they were queued; other requests and other webhooks
// are not held back.
func testDeliveryOrder(t *testing.T, db *store.DB) {
	w, other := newWebhook(t, db), newWebhook(t, db)
	req := &d.Request{ID: d.NewRequestID()}
	req2 := &d.Request{ID: d.NewRequestID()}
	queue := func(hook d.WebhookID, r *d.Request, event d.EventID, at time.Time) *d.Delivery {
		t.Helper()
		v, err := d.NewDelivery(hook, d.Notification{Kind: d.NotifyCreated, EventID: event, Request: r}, at)
		if err != nil {
			t.Fatal(err)
		}
		mustTx(t, db, func(tx *store.Tx) error { return tx.DeliveryCreate(v) })
		return v
	}
	first := queue(w.ID, req, 1, t0)
	second := queue(w.ID, req, 2, t0.Add(time.Microsecond))
	third := queue(w.ID, req, 3, t0.Add(2*time.Microsecond))
	elsewhere := queue(other.ID, req, 1, t0)
	unrelated := queue(w.ID, req2, 4, t0.Add(3*time.Microsecond))
	due := func(now time.Time) []d.DeliveryID {
		t.Helper()
		var ids []d.DeliveryID
		mustRead(t, db, func(tx *store.Tx) error {
			vs, err := tx.DeliveriesDue(now, 100)
			for _, v := range vs {
				ids = append(ids, v.ID)
			}
			return err
		})
		return ids
	}
	has := func(ids []d.DeliveryID, v *d.Delivery) bool { return slices.Contains(ids, v.ID) }
	ids := due(t0.Add(time.Minute))
	if len(ids) != 3 || !has(ids, first) || !has(ids, elsewhere) || !has(ids, unrelated) {
		t.Fatalf("due = %v, want %s, %s and %s (not the later ones of the same request)", ids, first.ID, elsewhere.ID, unrelated.ID)
	}
	// While the first backs off after a failure, the second still waits.
	first.Attempts, first.NextAttempt = 1, t0.Add(time.Hour)
	mustTx(t, db, func(tx *store.Tx) error { return tx.DeliveryUpdate(first) })
	if ids := due(t0.Add(time.Minute)); has(ids, second) || has(ids, first) {
		t.Errorf("due while the first backs off = %v, want neither %s nor %s", ids, first.ID, second.ID)
	}
	// Once it is dead (or delivered), the next one goes, and only it.
	first.Status, first.NextAttempt = d.DeliveryDead, time.Time{}
	mustTx(t, db, func(tx *store.Tx) error { return tx.DeliveryUpdate(first) })
	if ids := due(t0.Add(time.Minute)); !has(ids, second) || has(ids, third) {
		t.Errorf("due after the first died = %v, want %s and not %s", ids, second.ID, third.ID)
	}
}
