package store

import (
	"encoding/hex"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
)

const eventCols = `id, at, actor, actor_name, actor_source, action, target, result, reason, request_id, details, prev_hash, hash`

func scanEvent(s scanner) (d.Event, error) {
	var e d.Event
	var at int64
	var prev, hash []byte
	if err := s.Scan(&e.ID, &at, &e.Actor, &e.ActorName, &e.ActorSource, &e.Action, &e.Target, &e.Result, &e.Reason, &e.RequestID, &e.Details, &prev, &hash); err != nil {
		return e, err
	}
	e.Time = fromMicros(at)
	e.PrevHash, e.Hash = hexOrEmpty(prev), hexOrEmpty(hash)
	return e, nil
}

func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}

// EventAppend appends an audit event to the hash chain: it sets e.ID to the
// head's ID + 1, e.Time to its stored precision (microseconds, UTC), and
// e.PrevHash and e.Hash (see internal/audit), and moves the head.
//
// The head row is locked for the rest of the transaction (FOR UPDATE on
// PostgreSQL; SQLite serialises writers anyway), so concurrent
// transactions append one after another, in commit order: IDs have no gaps
// and a reader tailing by ID never misses an event that commits later with
// a lower ID. On PostgreSQL a transaction that appends after a concurrent
// one committed fails to serialise and is retried by DB.Tx.
//
// Events cannot be changed or deleted through the store, except by
// EventsPrune.
func (tx *Tx) EventAppend(e *d.Event) error {
	id, prev, err := tx.lockHead()
	if err != nil {
		return err
	}
	e.ID = id + 1
	e.Time = fromMicros(micros(e.Time))
	sum := audit.Seal(prev, e)
	ins := `INSERT INTO events (` + eventCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	if tx.dialect == Postgres {
		ins = `INSERT INTO events (` + eventCols + `) OVERRIDING SYSTEM VALUE VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	}
	if _, err := tx.exec(ins, int64(e.ID), micros(e.Time), e.Actor, e.ActorName, e.ActorSource, e.Action, e.Target, e.Result, e.Reason, string(e.RequestID), e.Details, prev, sum); err != nil {
		return classify("append event", err, "")
	}
	return tx.setHead(e.ID, sum)
}

// lockHead reads the chain's head, locking it until the transaction ends.
func (tx *Tx) lockHead() (d.EventID, []byte, error) {
	q := `SELECT id, hash FROM audit_head WHERE one = 1`
	if tx.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var id int64
	var hash []byte
	if err := tx.queryRow(q).Scan(&id, &hash); err != nil {
		return 0, nil, classify("audit head", err, "")
	}
	return d.EventID(id), hash, nil
}

func (tx *Tx) setHead(id d.EventID, hash []byte) error {
	if _, err := tx.exec(`UPDATE audit_head SET id = ?, hash = ? WHERE one = 1`, int64(id), hash); err != nil {
		return classify("audit head", err, "")
	}
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
	User      string      // events by this subject ("token:tok_…") or actor name
	RequestID d.RequestID // events about this request
	// Machine selects events about a machine: on it (target), by its agent,
	// or about a request with a target on it (matched by machine ID, or by
	// MachineName for machines since deleted).
	Machine     d.MachineID
	MachineName string
	Limit       int // Events: at most this many; 0 means DefaultLimit, more than MaxLimit means MaxLimit. EventsEach: 0 means all
}

func (f EventFilter) query() (string, []any) {
	q := `SELECT ` + eventCols + ` FROM events WHERE 1 = 1`
	var args []any
	add := func(cond string, a ...any) {
		q += ` AND ` + cond
		args = append(args, a...)
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
	if f.User != "" {
		add(`(actor = ? OR actor_name = ?)`, f.User, f.User)
	}
	if f.RequestID != "" {
		add(`request_id = ?`, string(f.RequestID))
	}
	if f.Machine != "" || f.MachineName != "" {
		id, name := string(f.Machine), f.MachineName
		if id == "" {
			id = "-" // matches no ID
		}
		add(`(target = ? OR actor = ? OR (request_id <> '' AND request_id IN (SELECT request_id FROM targets WHERE machine_id = ? OR machine_name = ?)))`,
			id, "agent:"+id, id, name)
	}
	q += ` ORDER BY id`
	return q, args
}

// Events returns the events f selects in ascending ID order.
func (tx *Tx) Events(f EventFilter) ([]d.Event, error) {
	q, args := f.query()
	q += ` LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := tx.query(q, args...)
	return collect("events", rows, err, scanEvent)
}

// EventsEach calls fn for each event f selects, in ascending ID order, as
// the rows are read: memory does not grow with the number of events.
// f.Limit 0 means no limit. fn's error stops the walk and is returned
// unchanged; fn must not use tx.
func (tx *Tx) EventsEach(f EventFilter, fn func(*d.Event) error) error {
	q, args := f.query()
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := tx.query(q, args...)
	if err != nil {
		return classify("events", err, "")
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return classify("events", err, "")
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return classify("events", err, "")
	}
	return nil
}
