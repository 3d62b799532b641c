package store_test

import (
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
