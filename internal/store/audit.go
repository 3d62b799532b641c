package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
)

// chainPending chains, in ID order, the events after the head that have no
// hash yet: those written before migration 00002. It runs on every Open and
// does nothing once they are chained. It takes the head's lock, so replicas
// opening at once chain each event exactly once.
func (db *DB) chainPending(ctx context.Context) error {
	n := 0
	err := db.Tx(ctx, func(tx *Tx) error {
		n = 0
		id, prev, err := tx.lockHead()
		if err != nil {
			return err
		}
		for {
			// In batches: a Tx runs on one connection, which cannot
			// update while it is still reading a result set.
			rows, err := tx.query(`SELECT `+eventCols+` FROM events WHERE id > ? ORDER BY id LIMIT 1000`, int64(id))
			es, err := collect("chain events", rows, err, scanEvent)
			if err != nil {
				return err
			}
			if len(es) == 0 {
				break
			}
			for i := range es {
				e := &es[i]
				if e.Hash != "" {
					return fmt.Errorf("store: chain events: event %d is already chained but the head is at %d", e.ID, id)
				}
				sum := audit.Seal(prev, e)
				if _, err := tx.exec(`UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?`, prev, sum, int64(e.ID)); err != nil {
					return classify("chain events", err, "")
				}
				id, prev = e.ID, sum
				n++
			}
		}
		if n == 0 {
			return nil
		}
		return tx.setHead(id, prev)
	})
	if err == nil && n > 0 {
		db.log.Info("audit events chained", "events", n)
	}
	return err
}

// AuditHead returns the newest chained event's ID and hash (hex): 0 and the
// genesis (or, after pruning everything, the anchor) when there is none.
func (tx *Tx) AuditHead() (d.EventID, string, error) {
	var id int64
	var hash []byte
	if err := tx.queryRow(`SELECT id, hash FROM audit_head WHERE one = 1`).Scan(&id, &hash); err != nil {
		return 0, "", classify("audit head", err, "")
	}
	return d.EventID(id), hex.EncodeToString(hash), nil
}

// AuditAnchor returns the newest prune anchor, or nil when the log was
// never pruned.
func (tx *Tx) AuditAnchor() (*d.AuditAnchor, error) {
	var a d.AuditAnchor
	var id, at int64
	var hash []byte
	err := tx.queryRow(`SELECT id, hash, pruned_at, count, archive FROM audit_anchors ORDER BY id DESC LIMIT 1`).Scan(&id, &hash, &at, &a.Count, &a.Archive)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, classify("audit anchor", err, "")
	}
	a.ID, a.Hash, a.PrunedAt = d.EventID(id), hex.EncodeToString(hash), fromMicros(at)
	return &a, nil
}

// PruneBoundary returns the newest event ID that may be pruned for a
// retention cutoff: every event up to it is older than cutoff (events are
// pruned as a prefix of the chain, so one late clock does not leave holes).
// It returns 0 when nothing is old enough.
func (tx *Tx) PruneBoundary(cutoff time.Time) (d.EventID, error) {
	var first sql.NullInt64
	if err := tx.queryRow(`SELECT MIN(id) FROM events WHERE at >= ?`, micros(cutoff)).Scan(&first); err != nil {
		return 0, classify("prune boundary", err, "")
	}
	if first.Valid {
		return d.EventID(first.Int64 - 1), nil
	}
	var last sql.NullInt64
	if err := tx.queryRow(`SELECT MAX(id) FROM events`).Scan(&last); err != nil {
		return 0, classify("prune boundary", err, "")
	}
	return d.EventID(last.Int64), nil
}

// EventsPrune deletes the events with IDs up to upTo and records an anchor
// (upTo and its hash), so the chain still verifies from the first remaining
// event. archive names where the pruned events were exported. Pruning
// nothing (upTo at or below the oldest remaining event's predecessor)
// returns nil, nil; an upTo with no event is NotFound.
func (tx *Tx) EventsPrune(upTo d.EventID, archive string, now time.Time) (*d.AuditAnchor, error) {
	var hash []byte
	err := tx.queryRow(`SELECT hash FROM events WHERE id = ?`, int64(upTo)).Scan(&hash)
	if err != nil {
		return nil, rowErr("prune events", err, notFound("event %d not found", upTo))
	}
	res, err := tx.exec(`DELETE FROM events WHERE id <= ?`, int64(upTo))
	if err != nil {
		return nil, classify("prune events", err, "")
	}
	n, err := rowsAffected("prune events", res)
	if err != nil || n == 0 {
		return nil, err
	}
	a := &d.AuditAnchor{ID: upTo, Hash: hex.EncodeToString(hash), PrunedAt: fromMicros(micros(now)), Count: n, Archive: archive}
	if _, err := tx.exec(`INSERT INTO audit_anchors (id, hash, pruned_at, count, archive) VALUES (?, ?, ?, ?, ?)`,
		int64(a.ID), hash, micros(now), n, archive); err != nil {
		return nil, classify("prune events", err, "")
	}
	return a, nil
}

// MachineAccess is what the Configured tab shows per machine.
type MachineAccess struct {
	Approved7d int       // approved requests created in the window
	LastAccess time.Time // latest grant confirmed in the kernel
	LastUser   string    // who asked for that grant
}

// MachinesAccess returns, for every machine with any request, the number of
// approved requests created at or after since, the time of its latest grant
// confirmed in the kernel and that request's requester name: two grouped
// queries, whatever the number of machines.
func (tx *Tx) MachinesAccess(since time.Time) (map[d.MachineID]MachineAccess, error) {
	out := map[d.MachineID]MachineAccess{}
	approved, sargs := statusIn(d.ApprovedStatuses)
	args := append([]any{micros(since)}, sargs...)
	rows, err := tx.query(`SELECT t.machine_id, COUNT(DISTINCT r.id) FROM targets t JOIN requests r ON r.id = t.request_id
		WHERE r.created_at >= ? AND r.status IN (`+approved+`) GROUP BY t.machine_id`, args...)
	if err != nil {
		return nil, classify("machine access", err, "")
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, classify("machine access", err, "")
		}
		a := out[d.MachineID(id)]
		a.Approved7d = n
		out[d.MachineID(id)] = a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify("machine access", err, "")
	}
	// The latest confirmed grant per machine, and its requester. Ties (one
	// request, several ports) share the requester.
	rows, err = tx.query(`SELECT t.machine_id, t.applied_at, MIN(r.requester_name) FROM targets t JOIN requests r ON r.id = t.request_id
		WHERE t.applied_at > 0 AND t.applied_at = (SELECT MAX(t2.applied_at) FROM targets t2 WHERE t2.machine_id = t.machine_id)
		GROUP BY t.machine_id, t.applied_at`)
	if err != nil {
		return nil, classify("machine access", err, "")
	}
	defer rows.Close()
	for rows.Next() {
		var id, user string
		var at int64
		if err := rows.Scan(&id, &at, &user); err != nil {
			return nil, classify("machine access", err, "")
		}
		a := out[d.MachineID(id)]
		a.LastAccess, a.LastUser = fromMicros(at), user
		out[d.MachineID(id)] = a
	}
	if err := rows.Err(); err != nil {
		return nil, classify("machine access", err, "")
	}
	return out, nil
}

// AuditCheck is an exported head to check the chain against: the event ID
// must still have this hash (hex).
type AuditCheck struct {
	ID   d.EventID
	Hash string
}

// VerifyChain walks the whole chain in ID order, in constant memory, from
// the newest prune anchor (or the genesis), recomputing every hash, and
// compares its end with the head row; check, if not nil, must also hold.
// Run it in DB.Read, whose snapshot makes the walk consistent. A chain that
// does not verify is a report with OK false, not an error.
func (tx *Tx) VerifyChain(check *AuditCheck) (d.AuditReport, error) {
	anchor, err := tx.AuditAnchor()
	if err != nil {
		return d.AuditReport{}, err
	}
	headID, headHash, err := tx.AuditHead()
	if err != nil {
		return d.AuditReport{}, err
	}
	v := audit.NewVerifier(anchor)
	if check != nil {
		v.Expect(check.ID, check.Hash)
	}
	errStop := errors.New("stop")
	err = tx.EventsEach(EventFilter{}, func(e *d.Event) error {
		if !v.Add(e) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return d.AuditReport{}, err
	}
	if anchor != nil && headID == anchor.ID {
		headID = 0 // everything pruned: nothing to compare beyond the anchor
	}
	return v.Finish(headID, headHash), nil
}

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
