package control

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// RequestCreate checks a request against each machine's policy and, if every
// target passes, records it and sends the grants to the agents; nothing is
// applied when any target fails (the error names the field). With automatic
// approval (the only mode in this version) the access window starts now.
// Needs requests/initiate.
func (s *Service) RequestCreate(ctx context.Context, a d.Actor, in d.RequestInput) (*d.Request, error) {
	if err := s.require(a, d.ActRequestsInitiate); err != nil {
		return nil, err
	}
	if len(in.Targets) == 0 {
		return nil, d.FieldErrorf("targets", "at least one machine is required")
	}
	if err := d.CheckJustification(in.Justification); err != nil {
		return nil, err
	}
	var defaultSource netip.Prefix
	if in.Source != "" {
		p, err := d.ParseSource(in.Source)
		if err != nil {
			return nil, d.FieldErrorf("source", "%v", err)
		}
		defaultSource = p
	} else if a.Source.IsValid() {
		defaultSource = netip.PrefixFrom(a.Source.Unmap(), a.Source.Unmap().BitLen())
	}
	var out *d.Request
	var topics []string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		now := s.now()
		r := &d.Request{
			ID: d.NewRequestID(), Requester: a.Subject(), RequesterName: a.Name,
			Justification: in.Justification, CreatedAt: now, Start: now, Status: d.StatusApplying,
		}
		type planned struct {
			m      *d.Machine
			specs  []d.TargetSpec
			protos []d.Protocol
		}
		var plan []planned
		maxAllowed := d.Duration(s.cfg.ServerCap)
		seen := map[string]bool{}
		count := 0
		for i, mt := range in.Targets {
			field := fmt.Sprintf("targets[%d]", i)
			m, err := machineRef(tx, mt.Machine)
			if err != nil {
				if e := d.AsError(err); e != nil && e.Field != "" {
					return d.WithField(err, field) // machineRef names its field "machine" already
				}
				return d.WithField(err, field+".machine")
			}
			if seen[string(m.ID)] {
				return d.FieldErrorf(field+".machine", "machine %s is listed twice", m.Name)
			}
			seen[string(m.ID)] = true
			p, err := tx.Policy(m.ID)
			if d.ErrorKind(err) == d.NotFound {
				p, err = nil, nil
			}
			if err != nil {
				return err
			}
			if p == nil || !p.Enabled {
				// Checked here, not only in CheckTarget, so the field is the
				// machine's ("targets[0].machine"), not a port's.
				return &d.Error{Kind: d.Conflict, Field: field + ".machine", Message: fmt.Sprintf("machine %s has no enabled JIT policy", m.Name)}
			}
			if len(mt.Ports) == 0 {
				return d.FieldErrorf(field+".ports", "at least one port is required")
			}
			pl := planned{m: m}
			for j, pt := range mt.Ports {
				pfield := fmt.Sprintf("%s.ports[%d]", field, j)
				if count++; count > d.MaxTargets {
					return d.FieldErrorf("targets", "at most %d ports per request", d.MaxTargets)
				}
				src := defaultSource
				if pt.Source != "" {
					if src, err = d.ParseSource(pt.Source); err != nil {
						return d.FieldErrorf(pfield+".source", "%v", err)
					}
				}
				if !src.IsValid() {
					return d.FieldErrorf(pfield+".source", "source is required (the server could not tell the caller's address)")
				}
				spec := d.TargetSpec{Machine: m, Port: pt.Port, Protocol: pt.Protocol, Source: src}
				if pt.Port == 0 {
					return d.FieldErrorf(pfield+".port", "port must be from 1 to 65535")
				}
				proto, err := d.CheckTarget(p, spec, 0, pfield)
				if err != nil {
					return err
				}
				rule, _ := p.Rule(pt.Port, proto)
				maxAllowed = min(maxAllowed, rule.MaxDuration)
				for k, prev := range pl.specs {
					if prev.Port == spec.Port && prev.Source == spec.Source && (pl.protos[k].Covers(proto) || proto.Covers(pl.protos[k])) {
						return d.FieldErrorf(pfield+".port", "port %d is listed twice for %s", pt.Port, m.Name)
					}
				}
				pl.specs = append(pl.specs, spec)
				pl.protos = append(pl.protos, proto)
			}
			plan = append(plan, pl)
		}
		dur := d.Duration(min(s.cfg.DefaultDuration, maxAllowed.Std()))
		if in.Duration != "" {
			var err error
			if dur, err = d.ParseDuration(in.Duration); err != nil {
				return d.FieldErrorf("duration", "%v", err)
			}
			if err := d.CheckDuration(dur, s.cfg.ServerCap); err != nil {
				return err
			}
			if dur > maxAllowed {
				return d.FieldErrorf("duration", "duration %s exceeds the policy's maximum of %s for the ports asked for", dur, maxAllowed)
			}
		}
		r.Duration = dur
		r.End = now.Add(dur.Std())
		for _, pl := range plan {
			version, err := tx.MachineBumpVersion(pl.m.ID)
			if err != nil {
				return err
			}
			for k, spec := range pl.specs {
				r.Targets = append(r.Targets, d.Target{
					ID: d.NewTargetID(), RequestID: r.ID, MachineID: pl.m.ID, MachineName: pl.m.Name,
					Port: spec.Port, Protocol: pl.protos[k], Source: spec.Source, End: r.End,
					Status: d.StatusApplying, Version: version,
				})
			}
			topics = append(topics, machineTopic(string(pl.m.ID)))
		}
		if err := tx.RequestCreate(r); err != nil {
			return err
		}
		details := []map[string]any{}
		for _, t := range r.Targets {
			details = append(details, map[string]any{"machine": t.MachineName, "port": t.Port, "protocol": t.Protocol, "source": t.Source})
		}
		if err := s.audit(tx, now, a, d.EvRequestCreated, string(r.ID), r.Justification, r.ID, map[string]any{"targets": details, "duration": r.Duration, "end": r.End}); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.hub.Publish(topics...)
	return out, nil
}

// canSee reports whether a may read request r: requests/read, or its own.
func canSee(a d.Actor, r *d.Request) bool {
	return a.Can(d.ActRequestsRead) || r.Requester == a.Subject()
}

// Request returns one request. NotFound when it does not exist or the
// caller may not see it (no existence oracle).
func (s *Service) Request(ctx context.Context, a d.Actor, id d.RequestID) (*d.Request, error) {
	if !d.ValidID(string(id), d.RequestPrefix) {
		return nil, d.FieldErrorf("id", "malformed request ID %q", id)
	}
	var r *d.Request
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		r, err = tx.Request(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !canSee(a, r) {
		return nil, &d.Error{Kind: d.NotFound, Message: fmt.Sprintf("request %s not found", id)}
	}
	expireView(r, s.now())
	return r, nil
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
	Mine    bool
	Open    bool
	Machine string
	Limit   int
}

// Requests lists requests, newest first: all of them with requests/read,
// else only the caller's own.
func (s *Service) Requests(ctx context.Context, a d.Actor, f RequestsFilter) ([]d.Request, error) {
	sf := store.RequestFilter{Open: f.Open, Limit: f.Limit}
	if f.Mine || !a.Can(d.ActRequestsRead) {
		sf.Requester = a.Subject()
	}
	var rs []d.Request
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		if f.Machine != "" {
			m, err := machineRef(tx, f.Machine)
			if err != nil {
				return err
			}
			sf.MachineID = m.ID
		}
		var err error
		rs, err = tx.Requests(sf)
		return err
	})
	now := s.now()
	for i := range rs {
		expireView(&rs[i], now)
	}
	return rs, err
}

// Revoke ends every open target of a request at once; the agents remove the
// kernel elements (and with Terminate cut established flows) as soon as they
// hear of it, or when they come back. Needs requests/revoke, or to be the
// requester. Conflict if nothing is open any more.
func (s *Service) Revoke(ctx context.Context, a d.Actor, id d.RequestID, in d.RevokeInput) (*d.Request, error) {
	if !d.ValidID(string(id), d.RequestPrefix) {
		return nil, d.FieldErrorf("id", "malformed request ID %q", id)
	}
	if err := d.CheckJustification(in.Reason); err != nil {
		return nil, d.WithField(&d.Error{Kind: d.Invalid, Message: "reason: " + d.AsError(err).Message}, "reason")
	}
	var out *d.Request
	var topics []string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		now := s.now()
		r, err := tx.Request(id)
		if err != nil {
			return err
		}
		if !canSee(a, r) {
			return &d.Error{Kind: d.NotFound, Message: fmt.Sprintf("request %s not found", id)}
		}
		if !a.Can(d.ActRequestsRevoke) && r.Requester != a.Subject() {
			return forbidden(a, d.ActRequestsRevoke)
		}
		reason := in.Reason
		if reason == "" {
			reason = "revoked by " + a.Name
		}
		versions := map[d.MachineID]int64{}
		changed := 0
		for i := range r.Targets {
			t := &r.Targets[i]
			if t.Expire(now) { // its time is up anyway: record expiry, not revoke
				if err := tx.TargetUpdate(t); err != nil {
					return err
				}
				continue
			}
			if !t.Revoke(reason, in.Terminate) {
				continue
			}
			v, ok := versions[t.MachineID]
			if !ok {
				if v, err = tx.MachineBumpVersion(t.MachineID); err != nil {
					return err
				}
				versions[t.MachineID] = v
				topics = append(topics, machineTopic(string(t.MachineID)))
			}
			t.Version = v
			if err := tx.TargetUpdate(t); err != nil {
				return err
			}
			changed++
		}
		if changed == 0 {
			return &d.Error{Kind: d.Conflict, Message: fmt.Sprintf("request %s is %s; nothing to revoke", id, d.AggregateStatus(r.Targets))}
		}
		r.Status = d.AggregateStatus(r.Targets)
		if err := tx.RequestUpdate(r); err != nil {
			return err
		}
		if err := s.audit(tx, now, a, d.EvRequestRevoked, string(r.ID), reason, r.ID, map[string]any{"terminate": in.Terminate, "targets": changed}); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.hub.Publish(topics...)
	s.hub.Publish(requestTopic(string(id)))
	return out, nil
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

// Expire records expiry of every grant whose end time has passed. The
// kernel has already closed them; this keeps the record true even when the
// agent is away. It returns how many targets it expired.
func (s *Service) Expire(ctx context.Context) (int, error) {
	n := 0
	var topics []string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		n, topics = 0, nil
		now := s.now()
		ts, err := tx.TargetsDue(now)
		if err != nil {
			return err
		}
		reqs := map[d.RequestID]bool{}
		for i := range ts {
			t := &ts[i]
			if !t.Expire(now) {
				continue
			}
			if err := tx.TargetUpdate(t); err != nil {
				return err
			}
			if err := s.audit(tx, now, d.SystemActor, d.EvRequestExpired, string(t.ID), "end time reached", t.RequestID, map[string]any{"machine": t.MachineName, "port": t.Port, "protocol": t.Protocol, "source": t.Source}); err != nil {
				return err
			}
			reqs[t.RequestID] = true
			n++
		}
		for id := range reqs {
			if err := refreshRequestStatus(tx, id); err != nil {
				return err
			}
			topics = append(topics, requestTopic(string(id)))
		}
		return nil
	})
	if err == nil {
		s.hub.Publish(topics...)
	}
	return n, err
}

// RunExpiry calls Expire every interval until ctx ends.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Expire(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("expire grants", "err", err)
			}
		}
	}
}
