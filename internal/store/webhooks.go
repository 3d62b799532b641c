package store

import (
	"encoding/json"
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Webhooks, their deliveries, and the notification dispatcher's state (the
// events cursor and the expiring-soon marks). Secrets are stored as given:
// the dispatcher needs them to sign; callers that answer the API strip them.

const webhookCols = `id, url, secret, kinds, format, allow_http, created_at, created_by`

func scanWebhook(s scanner) (d.Webhook, error) {
	var w d.Webhook
	var kinds string
	var created int64
	if err := s.Scan(&w.ID, &w.URL, &w.Secret, &kinds, &w.Format, &w.AllowHTTP, &created, &w.CreatedBy); err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(kinds), &w.Kinds); err != nil {
		return w, fmt.Errorf("webhook %s kinds: %w", w.ID, err)
	}
	w.CreatedAt = fromMicros(created)
	return w, nil
}

// WebhookCreate stores a new webhook. It returns Conflict if the ID exists.
func (tx *Tx) WebhookCreate(w *d.Webhook) error {
	kinds, err := toJSON(w.Kinds)
	if err != nil {
		return fmt.Errorf("store: create webhook: %w", err)
	}
	_, err = tx.exec(`INSERT INTO webhooks (`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		string(w.ID), w.URL, w.Secret, kinds, string(w.Format), w.AllowHTTP, micros(w.CreatedAt), w.CreatedBy)
	return classify("create webhook", err, fmt.Sprintf("webhook %s already exists", w.ID))
}

// Webhook returns the webhook with its secret, or NotFound.
func (tx *Tx) Webhook(id d.WebhookID) (*d.Webhook, error) {
	w, err := scanWebhook(tx.queryRow(`SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, string(id)))
	if err != nil {
		return nil, rowErr("webhook", err, notFound("webhook %s not found", id))
	}
	return &w, nil
}

// Webhooks returns every webhook with its secret, oldest first.
func (tx *Tx) Webhooks() ([]d.Webhook, error) {
	rows, err := tx.query(`SELECT ` + webhookCols + ` FROM webhooks ORDER BY created_at, id`)
	return collect("webhooks", rows, err, scanWebhook)
}

// WebhookDelete deletes a webhook and its deliveries. It returns NotFound
// if there is no such webhook.
func (tx *Tx) WebhookDelete(id d.WebhookID) error {
	if _, err := tx.exec(`DELETE FROM webhook_deliveries WHERE webhook_id = ?`, string(id)); err != nil {
		return classify("delete webhook deliveries", err, "")
	}
	res, err := tx.exec(`DELETE FROM webhooks WHERE id = ?`, string(id))
	if err != nil {
		return classify("delete webhook", err, "")
	}
	return affected("delete webhook", res, notFound("webhook %s not found", id))
}

// WebhookCursor returns the ID of the last event the dispatcher turned into
// deliveries.
func (tx *Tx) WebhookCursor() (d.EventID, error) {
	var id int64
	if err := tx.queryRow(`SELECT event_id FROM webhook_cursor WHERE one = 1`).Scan(&id); err != nil {
		return 0, classify("webhook cursor", err, "")
	}
	return d.EventID(id), nil
}

// WebhookCursorSet moves the dispatcher's cursor to id.
func (tx *Tx) WebhookCursorSet(id d.EventID) error {
	if _, err := tx.exec(`UPDATE webhook_cursor SET event_id = ? WHERE one = 1`, int64(id)); err != nil {
		return classify("webhook cursor", err, "")
	}
	return nil
}

const deliveryCols = `id, webhook_id, kind, event_id, request_id, body, status, attempts, last_status, last_error, next_attempt, created_at, updated_at`

func scanDelivery(s scanner) (d.Delivery, error) {
	var v d.Delivery
	var body string
	var event, next, created, updated int64
	if err := s.Scan(&v.ID, &v.WebhookID, &v.Kind, &event, &v.RequestID, &body, &v.Status, &v.Attempts, &v.LastStatus, &v.LastError, &next, &created, &updated); err != nil {
		return v, err
	}
	v.EventID, v.Body = d.EventID(event), []byte(body)
	v.NextAttempt, v.CreatedAt, v.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
	return v, nil
}

// DeliveryCreate stores a new delivery. It returns Conflict if the ID
// exists.
func (tx *Tx) DeliveryCreate(v *d.Delivery) error {
	_, err := tx.exec(`INSERT INTO webhook_deliveries (`+deliveryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(v.ID), string(v.WebhookID), string(v.Kind), int64(v.EventID), string(v.RequestID), string(v.Body), string(v.Status),
		v.Attempts, v.LastStatus, v.LastError, micros(v.NextAttempt), micros(v.CreatedAt), micros(v.UpdatedAt))
	return classify("create delivery", err, fmt.Sprintf("delivery %s already exists", v.ID))
}

// Delivery returns one delivery, or NotFound.
func (tx *Tx) Delivery(id d.DeliveryID) (*d.Delivery, error) {
	v, err := scanDelivery(tx.queryRow(`SELECT `+deliveryCols+` FROM webhook_deliveries WHERE id = ?`, string(id)))
	if err != nil {
		return nil, rowErr("delivery", err, notFound("delivery %s not found", id))
	}
	return &v, nil
}

// DeliveryFilter selects deliveries. Zero fields select everything.
type DeliveryFilter struct {
	WebhookID d.WebhookID
	Status    d.DeliveryStatus
	Limit     int // 0 means DefaultLimit, more than MaxLimit means MaxLimit
}

// Deliveries returns the deliveries f selects, newest first.
func (tx *Tx) Deliveries(f DeliveryFilter) ([]d.Delivery, error) {
	q := `SELECT ` + deliveryCols + ` FROM webhook_deliveries WHERE 1 = 1`
	var args []any
	if f.WebhookID != "" {
		q += ` AND webhook_id = ?`
		args = append(args, string(f.WebhookID))
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := tx.query(q, args...)
	return collect("deliveries", rows, err, scanDelivery)
}

// DeliveriesDue returns up to n pending deliveries whose next attempt is at
// or before now, the longest waiting first.
func (tx *Tx) DeliveriesDue(now time.Time, n int) ([]d.Delivery, error) {
	// A request's deliveries to one webhook go one at a time, in the order
	// they were queued (created_at, then event): one waits while an earlier
	// one is pending (due, leased or backing off), and goes once that one
	// is delivered or dead.
	rows, err := tx.query(`SELECT `+deliveryCols+` FROM webhook_deliveries v WHERE status = ? AND next_attempt <= ?
		AND (request_id = '' OR NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = v.webhook_id AND p.request_id = v.request_id
			AND p.status = ? AND (p.created_at < v.created_at OR (p.created_at = v.created_at AND (p.event_id < v.event_id OR (p.event_id = v.event_id AND p.id < v.id))))))
		ORDER BY next_attempt, created_at, event_id, id LIMIT ?`,
		string(d.DeliveryPending), micros(now), string(d.DeliveryPending), n)
	return collect("deliveries due", rows, err, scanDelivery)
}

// DeliveryUpdate saves a delivery's status, attempts, last status and
// error, next attempt and update time. It returns NotFound if there is no
// such delivery (its webhook was deleted).
func (tx *Tx) DeliveryUpdate(v *d.Delivery) error {
	res, err := tx.exec(`UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status = ?, last_error = ?, next_attempt = ?, updated_at = ? WHERE id = ?`,
		string(v.Status), v.Attempts, v.LastStatus, v.LastError, micros(v.NextAttempt), micros(v.UpdatedAt), string(v.ID))
	if err != nil {
		return classify("update delivery", err, "")
	}
	return affected("update delivery", res, notFound("delivery %s not found", v.ID))
}

// DeliveriesPrune deletes delivered records last updated before before and
// returns how many. Dead ones stay until retried or their webhook is
// deleted.
func (tx *Tx) DeliveriesPrune(before time.Time) (int64, error) {
	res, err := tx.exec(`DELETE FROM webhook_deliveries WHERE status = ? AND updated_at < ?`, string(d.DeliveryDelivered), micros(before))
	if err != nil {
		return 0, classify("prune deliveries", err, "")
	}
	return rowsAffected("prune deliveries", res)
}

// RequestsEndingBetween returns the granted (applying or active) requests
// whose end is after from and at or before to and that have no
// expiring-soon mark for that end yet, soonest first.
func (tx *Tx) RequestsEndingBetween(from, to time.Time) ([]d.RequestID, error) {
	granted, args := statusIn(d.GrantedStatuses)
	rows, err := tx.query(`SELECT r.id FROM requests r
		WHERE r.status IN (`+granted+`) AND r.end_at > ? AND r.end_at <= ?
		AND NOT EXISTS (SELECT 1 FROM webhook_expiring x WHERE x.request_id = r.id AND x.end_at = r.end_at)
		ORDER BY r.end_at, r.id`,
		append(args, micros(from), micros(to))...)
	return collect("requests ending", rows, err, func(s scanner) (d.RequestID, error) {
		var id d.RequestID
		return id, s.Scan(&id)
	})
}

// ExpiringMark records that request id was announced as expiring at end.
// It reports false when the mark was already there (another server, or an
// earlier run, announced it).
func (tx *Tx) ExpiringMark(id d.RequestID, end time.Time) (bool, error) {
	res, err := tx.exec(`INSERT INTO webhook_expiring (request_id, end_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, string(id), micros(end))
	if err != nil {
		return false, classify("expiring mark", err, "")
	}
	n, err := rowsAffected("expiring mark", res)
	return n > 0, err
}

// ExpiringPrune deletes the marks of end times at or before now: they can
// no longer match.
func (tx *Tx) ExpiringPrune(now time.Time) error {
	if _, err := tx.exec(`DELETE FROM webhook_expiring WHERE end_at <= ?`, micros(now)); err != nil {
		return classify("expiring prune", err, "")
	}
	return nil
}
