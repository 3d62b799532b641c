package store

import (
	"encoding/json"
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
)

const requestCols = `id, requester, requester_name, justification, duration_ns, created_at, start_at, end_at, status, approval, pending_until, extend_ns, requester_person`

func scanRequest(s scanner) (d.Request, error) {
	var r d.Request
	var dur, created, start, end, pending, extend int64
	var approval string
	if err := s.Scan(&r.ID, &r.Requester, &r.RequesterName, &r.Justification, &dur, &created, &start, &end, &r.Status, &approval, &pending, &extend, &r.RequesterPerson); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(approval), &r.Approval); err != nil {
		return r, fmt.Errorf("request approval rule: %w", err)
	}
	r.Duration, r.ExtendBy = d.Duration(dur), d.Duration(extend)
	r.CreatedAt, r.Start, r.End, r.PendingUntil = fromMicros(created), fromMicros(start), fromMicros(end), fromMicros(pending)
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
	approval, err := toJSON(r.Approval)
	if err != nil {
		return fmt.Errorf("store: create request: %w", err)
	}
	_, err = tx.exec(`INSERT INTO requests (`+requestCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(r.ID), r.Requester, r.RequesterName, r.Justification, int64(r.Duration),
		micros(r.CreatedAt), micros(r.Start), micros(r.End), string(r.Status), approval, micros(r.PendingUntil), int64(r.ExtendBy), r.RequesterPerson)
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
	tx.noteRequest(r.ID)
	return nil
}

// Request returns the request with its targets (ordered by machine name,
// port, protocol) and their usage, or NotFound.
func (tx *Tx) Request(id d.RequestID) (*d.Request, error) {
	r, err := scanRequest(tx.queryRow(`SELECT `+requestCols+` FROM requests WHERE id = ?`, string(id)))
	if err != nil {
		return nil, rowErr("request", err, notFound("request %s not found", id))
	}
	rows, err := tx.query(`SELECT `+targetCols+` FROM targets WHERE request_id = ?`+targetOrder, string(id))
	if r.Targets, err = collect("request targets", rows, err, scanTarget); err != nil {
		return nil, err
	}
	if err := tx.AttachUsage(r.Targets); err != nil {
		return nil, err
	}
	rows, err = tx.query(`SELECT `+approvalCols+` FROM approvals WHERE request_id = ? ORDER BY id`, string(id))
	if r.Approvals, err = collect("request approvals", rows, err, scanApproval); err != nil {
		return nil, err
	}
	return &r, nil
}

// RequestFilter selects requests. Zero fields select everything. The
// caller's scope goes into the query (Visible, AllOn, NotPerson), so that
// Limit counts only rows the caller may see.
type RequestFilter struct {
	Requester string      // requests made by this subject
	MachineID d.MachineID // requests with a target on this machine
	Open      bool        // only requests with a target pending, approved, applying or active
	Awaiting  bool        // only requests waiting for an approval (pending, or with a pending extension)
	// PendingAfter, with Awaiting: leave out pending requests whose approval
	// deadline is at or before it (they are about to expire).
	PendingAfter time.Time
	// Visible, if not nil, keeps only requests made by Visible.Requester or
	// with a target on one of Visible.Machines.
	Visible *Visibility
	// AllOn, if not nil, keeps only requests every target of which is on
	// one of these machines.
	AllOn []d.MachineID
	// NotPerson leaves out the requests this person made (through any of
	// their tokens).
	NotPerson string
	// Before, if set, keeps only requests older than this one in the
	// listing's order (newest first): the next page after it.
	Before *d.Request
	Limit  int // at most this many; 0 means DefaultLimit, more than MaxLimit means MaxLimit
}

// Visibility is what one caller may see of the requests: its own, and those
// touching the machines it may read requests on.
type Visibility struct {
	Requester string
	Machines  []d.MachineID
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

// statusIn returns the placeholders "?, ?" and the arguments for one of
// the vocabulary's named status sets (d.OpenStatuses, d.GrantedStatuses …),
// so that queries take the state machine's groups as parameters instead of
// restating them.
func statusIn(set []d.Status) (string, []any) {
	args := make([]any, len(set))
	for i, s := range set {
		args[i] = string(s)
	}
	return placeholders(len(set)), args
}

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
	if f.Awaiting {
		granted, gargs := statusIn(d.GrantedStatuses)
		q += ` AND (r.status = ? OR (r.extend_ns > 0 AND r.status IN (` + granted + `)))`
		args = append(append(args, string(d.StatusPending)), gargs...)
	}
	if f.Awaiting && !f.PendingAfter.IsZero() {
		q += ` AND (r.status <> ? OR r.pending_until > ?)`
		args = append(args, string(d.StatusPending), micros(f.PendingAfter))
	}
	if f.Open {
		open, oargs := statusIn(d.OpenStatuses)
		q += ` AND EXISTS (SELECT 1 FROM targets t WHERE t.request_id = r.id AND t.status IN (` + open + `))`
		args = append(args, oargs...)
	}
	if f.Visible != nil {
		in, arg, err := machineSet(f.Visible.Machines, tx.dialect)
		if err != nil {
			return nil, fmt.Errorf("store: requests: %w", err)
		}
		q += ` AND (r.requester = ? OR EXISTS (SELECT 1 FROM targets t WHERE t.request_id = r.id AND t.machine_id IN ` + in + `))`
		args = append(args, f.Visible.Requester, arg)
	}
	if f.AllOn != nil {
		in, arg, err := machineSet(f.AllOn, tx.dialect)
		if err != nil {
			return nil, fmt.Errorf("store: requests: %w", err)
		}
		q += ` AND EXISTS (SELECT 1 FROM targets t WHERE t.request_id = r.id)
			AND NOT EXISTS (SELECT 1 FROM targets t WHERE t.request_id = r.id AND t.machine_id NOT IN ` + in + `)`
		args = append(args, arg)
	}
	if f.NotPerson != "" {
		q += ` AND r.requester <> ? AND r.requester_person <> ?`
		args = append(args, f.NotPerson, f.NotPerson)
	}
	if f.Before != nil {
		q += ` AND (r.created_at < ? OR (r.created_at = ? AND r.id < ?))`
		args = append(args, micros(f.Before.CreatedAt), micros(f.Before.CreatedAt), string(f.Before.ID))
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
	if err := tx.AttachUsage(targets); err != nil {
		return nil, err
	}
	for _, t := range targets {
		r := &reqs[index[t.RequestID]]
		r.Targets = append(r.Targets, t)
	}
	rows, err = tx.query(`SELECT request_id, `+approvalCols+` FROM approvals WHERE request_id IN (`+placeholders(len(ids))+`) ORDER BY id`, ids...)
	if err != nil {
		return nil, classify("requests approvals", err, "")
	}
	defer rows.Close()
	for rows.Next() {
		var rid string
		a, err := scanApproval(prefixed{rows, &rid})
		if err != nil {
			return nil, fmt.Errorf("store: requests approvals: %w", err)
		}
		r := &reqs[index[d.RequestID(rid)]]
		r.Approvals = append(r.Approvals, a)
	}
	if err := rows.Err(); err != nil {
		return nil, classify("requests approvals", err, "")
	}
	return reqs, nil
}

// machineSet returns an SQL set expression, "(SELECT …)", holding the
// machine IDs, and its one argument: a JSON array, so that a fleet of any
// size is one bound parameter rather than one per machine.
func machineSet(ids []d.MachineID, dialect string) (string, any, error) {
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = string(id)
	}
	arg, err := toJSON(list)
	if err != nil {
		return "", nil, err
	}
	if dialect == Postgres {
		return `(SELECT jsonb_array_elements_text(CAST(? AS jsonb)))`, arg, nil
	}
	return `(SELECT value FROM json_each(?))`, arg, nil
}

// prefixed scans one leading column into dst, then the rest.
type prefixed struct {
	s   scanner
	dst any
}

func (p prefixed) Scan(dest ...any) error { return p.s.Scan(append([]any{p.dst}, dest...)...) }

const approvalCols = `approver, approver_name, kind, level, decision, reason, at, approver_person`

func scanApproval(s scanner) (d.Approval, error) {
	var a d.Approval
	var at int64
	if err := s.Scan(&a.Approver, &a.ApproverName, &a.Kind, &a.Level, &a.Decision, &a.Reason, &at, &a.ApproverPerson); err != nil {
		return a, err
	}
	a.Time = fromMicros(at)
	return a, nil
}

// ApprovalAppend records one approval decision on a request.
func (tx *Tx) ApprovalAppend(id d.RequestID, a d.Approval) error {
	_, err := tx.exec(`INSERT INTO approvals (request_id, `+approvalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(id), a.Approver, a.ApproverName, a.Kind, a.Level, a.Decision, a.Reason, micros(a.Time), a.ApproverPerson)
	if err != nil {
		return classify("append approval", err, "")
	}
	tx.noteRequest(id)
	return nil
}

// RequestsPendingDue returns the IDs of requests still pending whose
// approval deadline is at or before now.
func (tx *Tx) RequestsPendingDue(now time.Time) ([]d.RequestID, error) {
	rows, err := tx.query(`SELECT id FROM requests WHERE status = ? AND pending_until > 0 AND pending_until <= ? ORDER BY pending_until, id`,
		string(d.StatusPending), micros(now))
	return collect("pending due", rows, err, func(s scanner) (d.RequestID, error) {
		var id d.RequestID
		return id, s.Scan(&id)
	})
}

// RequestUpdate saves a request's status, start, end, approval deadline and
// pending extension. It returns NotFound if there is no such request.
func (tx *Tx) RequestUpdate(r *d.Request) error {
	res, err := tx.exec(`UPDATE requests SET status = ?, start_at = ?, end_at = ?, pending_until = ?, extend_ns = ? WHERE id = ?`,
		string(r.Status), micros(r.Start), micros(r.End), micros(r.PendingUntil), int64(r.ExtendBy), string(r.ID))
	if err != nil {
		return classify("update request", err, "")
	}
	if err := affected("update request", res, notFound("request %s not found", r.ID)); err != nil {
		return err
	}
	tx.noteRequest(r.ID)
	return nil
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
	if err := affected("update target", res, notFound("target %s not found", t.ID)); err != nil {
		return err
	}
	tx.noteRequest(t.RequestID)
	return nil
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
	granted, args := statusIn(d.GrantedStatuses)
	rows, err := tx.query(`SELECT `+targetCols+` FROM targets WHERE status IN (`+granted+`) AND end_at <= ? ORDER BY end_at, id`,
		append(args, micros(now))...)
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

// CountOpenTargets counts the targets on a machine that person holds open
// (pending, approved, or applying/active before their end) at now: those
// requested as that subject or through any token it owns
// (Request.RequesterPerson).
func (tx *Tx) CountOpenTargets(machine d.MachineID, person string, now time.Time) (int, error) {
	var n int
	waiting, wargs := statusIn(d.WaitingStatuses)
	granted, gargs := statusIn(d.GrantedStatuses)
	args := append([]any{string(machine), person, person}, wargs...)
	args = append(append(args, gargs...), micros(now))
	err := tx.queryRow(`SELECT COUNT(*) FROM targets t JOIN requests r ON r.id = t.request_id
		WHERE t.machine_id = ? AND (r.requester = ? OR r.requester_person = ?) AND (t.status IN (`+waiting+`) OR (t.status IN (`+granted+`) AND t.end_at > ?))`,
		args...).Scan(&n)
	if err != nil {
		return 0, classify("count open targets", err, "")
	}
	return n, nil
}

// CountActiveTargets counts the targets confirmed active whose end is after now.
func (tx *Tx) CountActiveTargets(now time.Time) (int, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM targets WHERE status = ? AND end_at > ?`, string(d.StatusActive), micros(now)).Scan(&n)
	if err != nil {
		return 0, classify("count active targets", err, "")
	}
	return n, nil
}

// TargetsToTerminate returns a machine's revoked targets whose established
// flows are still to be cut (revoked with terminate, not yet confirmed).
func (tx *Tx) TargetsToTerminate(id d.MachineID) ([]d.Target, error) {
	rows, err := tx.query(`SELECT `+targetCols+` FROM targets WHERE machine_id = ? AND status = ? AND terminate = ? AND terminated_at = 0 ORDER BY end_at, id`,
		string(id), string(d.StatusRevoked), true)
	return collect("targets to terminate", rows, err, scanTarget)
}
