package store

import (
	"time"

	d "github.com/drawbridge/drawbridge"
)

const eventCols = `id, at, actor, actor_name, actor_source, action, target, result, reason, request_id, details`

func scanEvent(s scanner) (d.Event, error) {
	var e d.Event
	var at int64
	if err := s.Scan(&e.ID, &at, &e.Actor, &e.ActorName, &e.ActorSource, &e.Action, &e.Target, &e.Result, &e.Reason, &e.RequestID, &e.Details); err != nil {
		return e, err
	}
	e.Time = fromMicros(at)
	return e, nil
}

// EventAppend appends an audit event and sets e.ID to its sequence number.
// IDs grow and are never reused. Events cannot be changed or deleted
// through the store.
//
// On PostgreSQL IDs are handed out when rows are inserted, not when their
// transactions commit, so an event with a lower ID can become visible after
// one with a higher ID; on SQLite, whose writes are serialised, it cannot.
func (tx *Tx) EventAppend(e *d.Event) error {
	var id int64
	err := tx.queryRow(`INSERT INTO events (`+eventCols[len("id, "):]+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		micros(e.Time), e.Actor, e.ActorName, e.ActorSource, e.Action, e.Target, e.Result, e.Reason, string(e.RequestID), e.Details).Scan(&id)
	if err != nil {
		return classify("append event", err, "")
	}
	e.ID = d.EventID(id)
	return nil
}

// EventFilter selects audit events. Zero fields select everything.
type EventFilter struct {
	AfterID   d.EventID   // events with a greater ID: a cursor
	Since     time.Time   // events at or after Since
	Until     time.Time   // events before Until
	Action    string      // events with this action (see the drawbridge.Ev* constants)
	Target    string      // events on this target
	Actor     string      // events by this subject
	RequestID d.RequestID // events about this request
	Limit     int         // at most this many; 0 means DefaultLimit, more than MaxLimit means MaxLimit
}

// Events returns the events f selects in ascending ID order.
func (tx *Tx) Events(f EventFilter) ([]d.Event, error) {
	q := `SELECT ` + eventCols + ` FROM events WHERE 1 = 1`
	var args []any
	add := func(cond string, arg any) {
		q += ` AND ` + cond
		args = append(args, arg)
	}
	if f.AfterID != 0 {
		add(`id > ?`, int64(f.AfterID))
	}
	if !f.Since.IsZero() {
		add(`at >= ?`, micros(f.Since))
	}
	if !f.Until.IsZero() {
		add(`at < ?`, micros(f.Until))
	}
	if f.Action != "" {
		add(`action = ?`, f.Action)
	}
	if f.Target != "" {
		add(`target = ?`, f.Target)
	}
	if f.Actor != "" {
		add(`actor = ?`, f.Actor)
	}
	if f.RequestID != "" {
		add(`request_id = ?`, string(f.RequestID))
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := tx.query(q, args...)
	return collect("events", rows, err, scanEvent)
}
