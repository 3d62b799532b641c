package control

import (
	"context"
	"fmt"
	"slices"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// changeRequest runs change on request id in one transaction (update, or
// with revocation, a change that only takes access away, updateRevocation:
// it commits even while the disk is full).
func (s *Service) changeRequest(ctx context.Context, id d.RequestID, revocation bool, change func(tx *store.Tx, now time.Time, r *d.Request) error) (*d.Request, error) {
	var out *d.Request
	run := s.update
	if revocation {
		run = s.updateRevocation
	}
	err := run(ctx, func(tx *store.Tx, now time.Time) error {
		r, err := tx.Request(id)
		if err != nil {
			return err
		}
		if err := change(tx, now, r); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// bumper bumps each machine's state version once per transaction, so all
// changes to one machine in it share a version.
type bumper struct {
	tx       *store.Tx
	versions map[d.MachineID]int64
}

func newBumper(tx *store.Tx) *bumper {
	return &bumper{tx: tx, versions: map[d.MachineID]int64{}}
}

// version returns the machine's new state version, bumping it the first time.
func (b *bumper) version(m d.MachineID) (int64, error) {
	if v, ok := b.versions[m]; ok {
		return v, nil
	}
	v, err := b.tx.MachineBumpVersion(m)
	if err != nil {
		return 0, err
	}
	b.versions[m] = v
	return v, nil
}

// onMachines applies ok to the machines of r's targets: with all, every one
// must pass; else any. Machines deleted since count as failing.
func onMachines(tx *store.Tx, r *d.Request, ok func(*d.Machine) bool, all bool) (bool, error) {
	ms, deleted, err := requestMachines(tx, r)
	if err != nil {
		return false, err
	}
	if all && deleted {
		return false, nil
	}
	for _, m := range ms {
		if ok(m) != all {
			return !all, nil
		}
	}
	return all, nil
}

// Request returns one request. NotFound when it does not exist or the
// caller may not see it (no existence oracle). Targets on machines outside
// the caller's scope are left out and counted (Request.Redact).
func (s *Service) Request(ctx context.Context, a d.Actor, id d.RequestID) (*d.Request, error) {
	r, err := s.request(ctx, a, id)
	if err != nil {
		return nil, err
	}
	err = s.db.Read(ctx, func(tx *store.Tx) error { return redact(tx, a, r) })
	if err != nil {
		return nil, err
	}
	return r, nil
}

// request is Request without the redaction.
func (s *Service) request(ctx context.Context, a d.Actor, id d.RequestID) (*d.Request, error) {
	if !d.ValidID(string(id), d.RequestPrefix) {
		return nil, d.FieldErrorf("id", "malformed request ID %s", d.Excerpt(string(id)))
	}
	var r *d.Request
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = tx.Request(id); err != nil {
			return err
		}
		return visible(tx, a, r)
	})
	if err != nil {
		return nil, err
	}
	expireView(r, s.now())
	return r, nil
}

// redact leaves out of r the targets on machines where a may not read
// requests, unless r is a's own (a requester sees all it asked for).
func redact(tx *store.Tx, a d.Actor, r *d.Request) error {
	if r.Requester == a.Subject() || a.Can(d.ActRequestsRead) {
		return nil
	}
	ms, _, err := requestMachines(tx, r)
	if err != nil {
		return err
	}
	ok := map[d.MachineID]bool{}
	for _, m := range ms {
		ok[m.ID] = a.Allowed(d.ActRequestsRead, m)
	}
	r.Redact(func(id d.MachineID) bool { return ok[id] })
	return nil
}

// expireView shows targets past their end as expired even before the
// sweeper has recorded it.
func expireView(r *d.Request, now time.Time) {
	changed := false
	for i := range r.Targets {
		changed = r.Targets[i].Expire(now) || changed
	}
	if changed {
		r.Status = d.AggregateStatus(r.Targets)
	}
}

// RequestsFilter narrows Requests.
type RequestsFilter struct {
	Mine     bool
	Open     bool
	Awaiting bool // waiting for an approval
	Machine  string
	Limit    int
}

// Requests lists requests, newest first: those on machines where the caller
// has requests/read, and its own. The caller's scope is part of the query,
// so Limit counts only requests the caller may see; targets outside the
// scope are left out and counted (Request.Redact).
func (s *Service) Requests(ctx context.Context, a d.Actor, f RequestsFilter) ([]d.Request, error) {
	sf := store.RequestFilter{Open: f.Open, Limit: f.Limit, Awaiting: f.Awaiting}
	rs := []d.Request{}
	var readable map[d.MachineID]bool // nil: every machine
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		if f.Mine || !a.AllowedSomewhere(d.ActRequestsRead) {
			sf.Requester = a.Subject()
		} else if ids, err := machinesWhere(tx, a, d.ActRequestsRead); err != nil {
			return err
		} else if ids != nil {
			sf.Visible = &store.Visibility{Requester: a.Subject(), Machines: ids}
			readable = map[d.MachineID]bool{}
			for _, id := range ids {
				readable[id] = true
			}
		}
		if f.Machine != "" {
			m, err := machineRef(tx, f.Machine)
			if d.ErrorKind(err) == d.NotFound {
				return nil // no such machine: no requests, and no existence oracle
			}
			if err != nil {
				return err
			}
			if !a.Allowed(d.ActRequestsRead, m) {
				// Out of scope: only the caller's own requests there, which
				// name the machine anyway. Anything else would tell that it
				// exists.
				sf.Requester = a.Subject()
			}
			sf.MachineID = m.ID
		}
		var err error
		rs, err = tx.Requests(sf)
		return err
	})
	if err != nil {
		return nil, err
	}
	now := s.now()
	for i := range rs {
		expireView(&rs[i], now)
		if readable != nil && rs[i].Requester != a.Subject() {
			rs[i].Redact(func(id d.MachineID) bool { return readable[id] })
		}
	}
	return rs, nil
}

// Revoke ends every open target of a request at once; the agents remove the
// kernel elements (and with Terminate cut established flows) as soon as they
// hear of it, or when they come back. Needs requests/revoke, or to be the
// requester. Conflict if nothing is open any more.
func (s *Service) Revoke(ctx context.Context, a d.Actor, id d.RequestID, in d.RevokeInput) (*d.Request, error) {
	return s.end(ctx, a, id, in, false)
}

// Done ends the caller's own request early ("I am done"): the same effect
// as revoke, recorded as done. Only the requester may.
func (s *Service) Done(ctx context.Context, a d.Actor, id d.RequestID) (*d.Request, error) {
	return s.end(ctx, a, id, d.RevokeInput{}, true)
}

func (s *Service) end(ctx context.Context, a d.Actor, id d.RequestID, in d.RevokeInput, done bool) (*d.Request, error) {
	if !d.ValidID(string(id), d.RequestPrefix) {
		return nil, d.FieldErrorf("id", "malformed request ID %s", d.Excerpt(string(id)))
	}
	if err := d.CheckText("reason", in.Reason, d.MaxReason); err != nil {
		return nil, err
	}
	return s.changeRequest(ctx, id, true, func(tx *store.Tx, now time.Time, r *d.Request) error {
		if err := visible(tx, a, r); err != nil {
			return err
		}
		own := r.Requester == a.Subject()
		if done && !own {
			return &d.Error{Kind: d.Forbidden, Message: "only the requester can mark a request done; use revoke"}
		}
		if !own {
			ok, err := onMachines(tx, r, func(m *d.Machine) bool { return a.Allowed(d.ActRequestsRevoke, m) }, true)
			if err != nil {
				return err
			}
			if !ok {
				return forbidden(a, d.ActRequestsRevoke)
			}
		}
		reason := in.Reason
		action := d.EvRequestRevoked
		switch {
		case done:
			reason, action = "done early by the requester", d.EvRequestDone
		case reason == "":
			reason = "revoked by " + a.Name
		}
		changed, err := s.endTargets(tx, now, a, r, action, reason, in.Terminate)
		if err != nil {
			return err
		}
		if changed == 0 {
			how, err := endedHow(tx, r)
			if err != nil {
				return err
			}
			return &d.Error{Kind: d.Conflict, Message: fmt.Sprintf("request %s already ended: %s", id, how)}
		}
		return nil
	})
}

// endTargets ends r's open targets in tx (recording as expired those whose
// time is up anyway), saves r and audits action by a; it returns how many
// targets it ended, and writes nothing when that is none.
func (s *Service) endTargets(tx *store.Tx, now time.Time, a d.Actor, r *d.Request, action, reason string, terminate bool) (int, error) {
	r.ExtendBy = 0 // a pending extension ends with the access
	bump := newBumper(tx)
	changed := 0
	usage := map[d.TargetID]string{}
	for i := range r.Targets {
		t := &r.Targets[i]
		if t.Expire(now) { // its time is up anyway: record expiry (as the sweeper would), not revoke
			if err := tx.TargetUpdate(t); err != nil {
				return 0, err
			}
			if err := s.audit(tx, now, d.SystemActor, d.EvRequestExpired, string(t.ID), "end time reached; "+t.Usage.Summary(), t.RequestID, usageDetails(t)); err != nil {
				return 0, err
			}
			continue
		}
		if !t.Revoke(reason, terminate) {
			continue
		}
		v, err := bump.version(t.MachineID)
		if err != nil {
			return 0, err
		}
		t.Version = v
		if err := tx.TargetUpdate(t); err != nil {
			return 0, err
		}
		changed++
		if !t.AppliedAt.IsZero() {
			usage[t.ID] = t.Usage.Summary() // was it used while open?
		}
	}
	if changed == 0 {
		return 0, nil
	}
	r.Status = d.AggregateStatus(r.Targets)
	if err := tx.RequestUpdate(r); err != nil {
		return 0, err
	}
	return changed, s.audit(tx, now, a, action, string(r.ID), reason, r.ID, map[string]any{"terminate": terminate, "targets": changed, "usage": usage})
}

// endRequestsOf revokes, in tx, every open request made by subject (a
// token or a signed-in user whose access was taken away), recording reason,
// and returns their IDs. With revoke false it only lists them.
func (s *Service) endRequestsOf(tx *store.Tx, now time.Time, a d.Actor, subject, reason string, revoke bool) ([]d.RequestID, error) {
	out := []d.RequestID{}
	f := store.RequestFilter{Requester: subject, Open: true, Limit: store.MaxLimit}
	for {
		rs, err := tx.Requests(f)
		if err != nil {
			return nil, err
		}
		for i := range rs {
			r := &rs[i]
			if !revoke {
				out = append(out, r.ID)
				continue
			}
			n, err := s.endTargets(tx, now, a, r, d.EvRequestRevoked, reason, false)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				out = append(out, r.ID)
			}
		}
		if len(rs) < store.MaxLimit {
			return out, nil
		}
		f.Before = &rs[len(rs)-1]
	}
}

// endedHow says how a request with nothing open ended, from its last ending
// event: "revoked at 2025-06-01 12:00:00Z by alice (reason: done)".
func endedHow(tx *store.Tx, r *d.Request) (string, error) {
	var last *d.Event
	err := tx.EventsEach(store.EventFilter{RequestID: r.ID}, func(e *d.Event) error {
		switch e.Action {
		case d.EvRequestRevoked, d.EvRequestDone, d.EvRequestExpired, d.EvRequestDenied, d.EvRequestFailed:
			if e.Result == d.ResultSuccess || e.Action == d.EvRequestFailed {
				ev := *e
				last = &ev
			}
		}
		return nil
	})
	status := d.AggregateStatus(r.Targets)
	if err != nil || last == nil {
		return string(status), err
	}
	s := fmt.Sprintf("%s at %s by %s", status, last.Time.UTC().Format(time.RFC3339), last.ActorName)
	if last.Reason != "" {
		s += " (" + last.Reason + ")"
	}
	return s, nil
}

// WaitApplied waits until no target of the request is applying (all active,
// failed or ended) or timeout passes, and returns the request. Unavailable
// when a machine whose grant is still applying is offline, or on timeout.
func (s *Service) WaitApplied(ctx context.Context, a d.Actor, id d.RequestID, timeout time.Duration) (*d.Request, error) {
	wake, cancel := s.hub.Subscribe(requestTopic(string(id)))
	defer cancel()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	recheck := time.NewTicker(min(s.cfg.RecheckInterval, 250*time.Millisecond))
	defer recheck.Stop()
	for {
		r, err := s.Request(ctx, a, id)
		if err != nil {
			return nil, err
		}
		var waiting []string
		for _, t := range r.Targets {
			if t.Status == d.StatusApplying && !slices.Contains(waiting, string(t.MachineID)) {
				waiting = append(waiting, string(t.MachineID))
			}
		}
		if len(waiting) == 0 {
			return r, nil
		}
		if err := s.checkOnline(ctx, waiting); err != nil {
			return r, err
		}
		select {
		case <-wake:
		case <-recheck.C:
		case <-deadline.C:
			return r, &d.Error{Kind: d.Unavailable, Message: fmt.Sprintf("request %s not confirmed by the agent within %s; it stays pending and opens when the agent applies it", id, d.Duration(timeout))}
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
}

func (s *Service) checkOnline(ctx context.Context, ids []string) error {
	return s.db.Read(ctx, func(tx *store.Tx) error {
		now := s.now()
		for _, id := range ids {
			m, err := tx.Machine(d.MachineID(id))
			if err != nil {
				return err
			}
			if !s.hub.Has(machineTopic(id)) && !m.Online(now, s.cfg.OnlineWindow) {
				last := "never"
				if !m.LastSeen.IsZero() {
					last = m.LastSeen.UTC().Format(time.RFC3339)
				}
				return &d.Error{Kind: d.Unavailable, Message: fmt.Sprintf("machine %s is offline (agent last seen %s); the grant opens when its agent reconnects, if before the end time", m.Name, last)}
			}
		}
		return nil
	})
}

// requestMachines loads the machines of r's targets that still exist, and
// reports whether any was deleted since.
func requestMachines(tx *store.Tx, r *d.Request) (ms []*d.Machine, deleted bool, err error) {
	seen := map[d.MachineID]bool{}
	for _, t := range r.Targets {
		if seen[t.MachineID] {
			continue
		}
		seen[t.MachineID] = true
		m, err := tx.Machine(t.MachineID)
		if d.ErrorKind(err) == d.NotFound {
			deleted = true
			continue
		}
		if err != nil {
			return nil, false, err
		}
		ms = append(ms, m)
	}
	return ms, deleted, nil
}

// planRequest loads what d.PlanRequest needs to decide on in (each
// machine asked for, its effective policy, the open grants the caller's
// person holds on it where a policy limits them) and returns its plan.
// Nothing is written.
func (s *Service) planRequest(tx *store.Tx, a d.Actor, in d.RequestInput, now time.Time) (*d.Plan, error) {
	// d.PlanRequest reads at most d.MaxTargets+1 of them: load no more, so
	// a long list costs no more queries than a refused one.
	ms := make([]d.PlanMachine, min(len(in.Targets), d.MaxTargets+1))
	for i, mt := range in.Targets[:len(ms)] {
		m, err := machineRef(tx, mt.Machine)
		if k := d.ErrorKind(err); k == d.NotFound || k == d.Invalid {
			ms[i].Err = err // PlanRequest reports it in input order
			continue
		}
		if err != nil {
			return nil, err
		}
		p, err := effectivePolicy(tx, m)
		if err != nil {
			return nil, err
		}
		ms[i].Machine, ms[i].Policy = m, p
		if p != nil && p.Limits.MaxActivePerUser > 0 {
			if ms[i].Open, err = tx.CountOpenTargets(m.ID, a.Person(), now); err != nil {
				return nil, err
			}
		}
	}
	return d.PlanRequest(a, in, ms, d.PlanConfig{ServerCap: s.cfg.ServerCap, DefaultDuration: s.cfg.DefaultDuration}, now)
}

// checkSupported refuses (Conflict, see Machine.CheckSupported) when a
// machine of r cannot enforce JIT any more, so r is not granted where it
// would sit applying forever.
func checkSupported(tx *store.Tx, r *d.Request, doing string) error {
	ms, _, err := requestMachines(tx, r)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := m.CheckSupported(doing); err != nil {
			return err
		}
	}
	return nil
}

// RequestCreate checks a request against each machine's policy and, if every
// target passes, records it. With automatic approval the access window
// starts now and the grants go to the agents at once; with manual approval
// the request waits (pending) and the window starts at the final approval.
// Nothing is recorded when any target fails (the error names the field).
// Needs requests/initiate on every machine; d.PlanRequest decides (the check
// before the transaction is its first, made early).
func (s *Service) RequestCreate(ctx context.Context, a d.Actor, in d.RequestInput) (*d.Request, error) {
	if !a.AllowedSomewhere(d.ActRequestsInitiate) {
		return nil, forbidden(a, d.ActRequestsInitiate)
	}
	var out *d.Request
	err := s.update(ctx, func(tx *store.Tx, now time.Time) error {
		pl, err := s.planRequest(tx, a, in, now)
		if err != nil {
			return err
		}
		r := &d.Request{
			ID: d.NewRequestID(), Requester: a.Subject(), RequesterName: a.Name, RequesterPerson: personOf(a),
			Justification: in.Justification, CreatedAt: now, Duration: pl.Duration, Approval: pl.Approval,
			Start: pl.Start, End: pl.End, PendingUntil: pl.PendingUntil, Status: pl.Status,
		}
		status := pl.Status
		for _, pm := range pl.Machines {
			var version int64
			if status == d.StatusApplying {
				if version, err = tx.MachineBumpVersion(pm.Machine.ID); err != nil {
					return err
				}
			}
			for k, spec := range pm.Specs {
				t := d.Target{
					ID: d.NewTargetID(), RequestID: r.ID, MachineID: pm.Machine.ID, MachineName: pm.Machine.Name,
					Port: spec.Port, Protocol: pm.Protocols[k], Source: spec.Source, End: r.End,
					Status: status, Version: version,
				}
				if status == d.StatusPending {
					t.Reason = "waiting for approval"
				}
				r.Targets = append(r.Targets, t)
			}
		}
		if err := tx.RequestCreate(r); err != nil {
			return err
		}
		details := []map[string]any{}
		for _, t := range r.Targets {
			details = append(details, map[string]any{"machine": t.MachineName, "port": t.Port, "protocol": t.Protocol, "source": t.Source})
		}
		if err := s.audit(tx, now, a, d.EvRequestCreated, string(r.ID), r.Justification, r.ID, map[string]any{
			"targets": details, "duration": r.Duration, "end": r.End, "needs_approval": pl.Approval.Manual(), "pending_until": r.PendingUntil}); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DryRun answers "what would this request open?" without changing anything:
// the targets with their sources, the duration, and whether approval is
// needed. It returns the same errors RequestCreate would.
func (s *Service) DryRun(ctx context.Context, a d.Actor, in d.RequestInput) (*d.DryRunResult, error) {
	if !a.AllowedSomewhere(d.ActRequestsInitiate) {
		return nil, forbidden(a, d.ActRequestsInitiate)
	}
	var out *d.DryRunResult
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		now := s.now()
		pl, err := s.planRequest(tx, a, in, now)
		if err != nil {
			return err
		}
		out = &d.DryRunResult{Duration: pl.Duration, NeedsApproval: pl.Approval.Manual(), Approval: pl.Approval, End: pl.End}
		for _, pm := range pl.Machines {
			for k, spec := range pm.Specs {
				out.Targets = append(out.Targets, d.Target{MachineID: pm.Machine.ID, MachineName: pm.Machine.Name, Port: spec.Port, Protocol: pm.Protocols[k], Source: spec.Source, End: out.End})
			}
		}
		return nil
	})
	return out, err
}
