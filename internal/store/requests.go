package store

import (
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
)

const requestCols = `id, requester, requester_name, justification, duration_ns, created_at, start_at, end_at, status`

func scanRequest(s scanner) (d.Request, error) {
	var r d.Request
	var dur, created, start, end int64
	if err := s.Scan(&r.ID, &r.Requester, &r.RequesterName, &r.Justification, &dur, &created, &start, &end, &r.Status); err != nil {
		return r, err
	}
	r.Duration = d.Duration(dur)
	r.CreatedAt, r.Start, r.End = fromMicros(created), fromMicros(start), fromMicros(end)
	return r, nil
}

const targetCols = `id, request_id, machine_id, machine_name, port, protocol, source, end_at, status, reason, version, applied_at, apply_latency_ns, terminate, terminated_at`

// targetOrder is the order of a request's targets.
const targetOrder = ` ORDER BY machine_name, port, protocol, id`

func scanTarget(s scanner) (d.Target, error) {
	var t d.Target
	var source string
	var end, applied, latency, terminated int64
	if err := s.Scan(&t.ID, &t.RequestID, &t.MachineID, &t.MachineName, &t.Port, &t.Protocol, &source, &end, &t.Status, &t.Reason,
		&t.Version, &applied, &latency, &t.Terminate, &terminated); err != nil {
		return t, err
	}
	var err error
	if t.Source, err = parsePrefix(source); err != nil {
		return t, fmt.Errorf("target %s source: %w", t.ID, err)
	}
	t.End, t.AppliedAt, t.TerminatedAt = fromMicros(end), fromMicros(applied), fromMicros(terminated)
	t.ApplyLatency = d.Duration(latency)
	return t, nil
}

// RequestCreate stores a new request with all its targets. Targets whose
// RequestID is empty get r.ID; a target's MachineName is stored as given and
// stays as it was when the request was made. It returns Conflict if the
// request or one of its target IDs exists.
func (tx *Tx) RequestCreate(r *d.Request) error {
	_, err := tx.exec(`INSERT INTO requests (`+requestCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(r.ID), r.Requester, r.RequesterName, r.Justification, int64(r.Duration),
		micros(r.CreatedAt), micros(r.Start), micros(r.End), string(r.Status))
	if err != nil {
		return classify("create request", err, fmt.Sprintf("request %s already exists", r.ID))
	}
	for i := range r.Targets {
		t := &r.Targets[i]
		if t.RequestID == "" {
			t.RequestID = r.ID
		}
		if t.RequestID != r.ID {
			return d.FieldErrorf(fmt.Sprintf("targets[%d].request_id", i), "target %s belongs to request %s, not %s", t.ID, t.RequestID, r.ID)
		}
		_, err := tx.exec(`INSERT INTO targets (`+targetCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(t.ID), string(t.RequestID), string(t.MachineID), t.MachineName, int64(t.Port), string(t.Protocol), prefixText(t.Source),
			micros(t.End), string(t.Status), t.Reason, t.Version, micros(t.AppliedAt), int64(t.ApplyLatency), t.Terminate, micros(t.TerminatedAt))
		if err != nil {
			return classify("create request target", err, fmt.Sprintf("target %s already exists", t.ID))
		}
	}
	return nil
}

// Request returns the request with its targets (ordered by machine name,
// port, protocol), or NotFound.
func (tx *Tx) Request(id d.RequestID) (*d.Request, error) {
	r, err := scanRequest(tx.queryRow(`SELECT `+requestCols+` FROM requests WHERE id = ?`, string(id)))
	if err != nil {
		return nil, rowErr("request", err, notFound("request %s not found", id))
	}
	rows, err := tx.query(`SELECT `+targetCols+` FROM targets WHERE request_id = ?`+targetOrder, string(id))
	if r.Targets, err = collect("request targets", rows, err, scanTarget); err != nil {
		return nil, err
	}
	return &r, nil
}

// RequestFilter selects requests. Zero fields select everything.
type RequestFilter struct {
	Requester string      // requests made by this subject
	MachineID d.MachineID // requests with a target on this machine
	Open      bool        // only requests with a target pending, approved, applying or active
	Limit     int         // at most this many; 0 means DefaultLimit, more than MaxLimit means MaxLimit
}

// Limits on the number of rows a listing returns.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func limit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// openStatuses are the statuses for which Status.Open is true.
var openStatuses = []any{string(d.StatusPending), string(d.StatusApproved), string(d.StatusApplying), string(d.StatusActive)}

// Requests returns the requests f selects, newest first, each with its
// targets.
func (tx *Tx) Requests(f RequestFilter) ([]d.Request, error) {
	q := `SELECT ` + requestCols + ` FROM requests r WHERE 1 = 1`
	var args []any
	if f.Requester != "" {
		q += ` AND r.requester = ?`
		args = append(args, f.Requester)
	}
	if f.MachineID != "" {
		q += ` AND EXISTS (SELECT 1 FROM targets t WHERE t.request_id = r.id AND t.machine_id = ?)`
		args = append(args, string(f.MachineID))
	}
	if f.Open {
		q += ` AND EXISTS (SELECT 1 FROM targets t WHERE t.request_id = r.id AND t.status IN (` + placeholders(len(openStatuses)) + `))`
		args = append(args, openStatuses...)
	}
	q += ` ORDER BY r.created_at DESC, r.id DESC LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := tx.query(q, args...)
	reqs, err := collect("requests", rows, err, scanRequest)
	if err != nil || len(reqs) == 0 {
		return reqs, err
	}

	ids := make([]any, len(reqs))
	index := make(map[d.RequestID]int, len(reqs))
	for i, r := range reqs {
		ids[i] = string(r.ID)
		index[r.ID] = i
		reqs[i].Targets = []d.Target{}
	}
	rows, err = tx.query(`SELECT `+targetCols+` FROM targets WHERE request_id IN (`+placeholders(len(ids))+`)`+targetOrder, ids...)
	targets, err := collect("requests targets", rows, err, scanTarget)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		r := &reqs[index[t.RequestID]]
		r.Targets = append(r.Targets, t)
	}
	return reqs, nil
}

// RequestUpdate saves a request's status, start and end. It returns
// NotFound if there is no such request.
func (tx *Tx) RequestUpdate(r *d.Request) error {
	res, err := tx.exec(`UPDATE requests SET status = ?, start_at = ?, end_at = ? WHERE id = ?`,
		string(r.Status), micros(r.Start), micros(r.End), string(r.ID))
	if err != nil {
		return classify("update request", err, "")
	}
	return affected("update request", res, notFound("request %s not found", r.ID))
}

// TargetUpdate saves a target's status, reason, end, version, applied time,
// apply latency and termination fields. It returns NotFound if there is no
// such target.
func (tx *Tx) TargetUpdate(t *d.Target) error {
	res, err := tx.exec(`UPDATE targets SET status = ?, reason = ?, end_at = ?, version = ?, applied_at = ?, apply_latency_ns = ?, terminate = ?, terminated_at = ? WHERE id = ?`,
		string(t.Status), t.Reason, micros(t.End), t.Version, micros(t.AppliedAt), int64(t.ApplyLatency), t.Terminate, micros(t.TerminatedAt), string(t.ID))
	if err != nil {
		return classify("update target", err, "")
	}
	return affected("update target", res, notFound("target %s not found", t.ID))
}

// TargetsByMachine returns the targets on a machine whose status is one of
// statuses (any status if none are given), ordered by end time.
func (tx *Tx) TargetsByMachine(id d.MachineID, statuses ...d.Status) ([]d.Target, error) {
	q := `SELECT ` + targetCols + ` FROM targets WHERE machine_id = ?`
	args := []any{string(id)}
	if len(statuses) > 0 {
		q += ` AND status IN (` + placeholders(len(statuses)) + `)`
		for _, s := range statuses {
			args = append(args, string(s))
		}
	}
	rows, err := tx.query(q+` ORDER BY end_at, id`, args...)
	return collect("targets by machine", rows, err, scanTarget)
}

// TargetsDue returns the applying or active targets whose end time is at or
// before now, on every machine, ordered by end time.
func (tx *Tx) TargetsDue(now time.Time) ([]d.Target, error) {
	rows, err := tx.query(`SELECT `+targetCols+` FROM targets WHERE status IN (?, ?) AND end_at <= ? ORDER BY end_at, id`,
		string(d.StatusApplying), string(d.StatusActive), micros(now))
	return collect("targets due", rows, err, scanTarget)
}

// TargetsApplying returns the machine's applying targets whose version is
// at most upToVersion: those a confirmation of that state version covers.
// They are ordered by version.
func (tx *Tx) TargetsApplying(id d.MachineID, upToVersion int64) ([]d.Target, error) {
	rows, err := tx.query(`SELECT `+targetCols+` FROM targets WHERE machine_id = ? AND status = ? AND version <= ? ORDER BY version, id`,
		string(id), string(d.StatusApplying), upToVersion)
	return collect("targets applying", rows, err, scanTarget)
}
