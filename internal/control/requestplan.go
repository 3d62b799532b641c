package control

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// plannedMachine is one machine of a checked request.
type plannedMachine struct {
	m      *d.Machine
	policy *d.Policy
	specs  []d.TargetSpec
	protos []d.Protocol
}

// plan is a request checked against every policy it touches.
type plan struct {
	machines []plannedMachine
	duration d.Duration
	approval d.ApprovalRule
}

// planRequest checks a request as a whole: the caller may initiate on every
// machine, each machine's effective policy is enabled and covers every port
// and source, the duration fits every rule, the justification and limits of
// every policy hold. Errors name the field; nothing is written.
func (s *Service) planRequest(tx *store.Tx, a d.Actor, in d.RequestInput, now time.Time) (*plan, error) {
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
	pl := &plan{}
	maxAllowed := d.Duration(s.cfg.ServerCap)
	seen := map[d.MachineID]bool{}
	count := 0
	var rules []d.ApprovalRule
	for i, mt := range in.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		m, err := machineRef(tx, mt.Machine)
		if err != nil {
			if e := d.AsError(err); e != nil && e.Field != "" {
				return nil, d.WithField(err, field) // machineRef names its field "machine" already
			}
			return nil, d.WithField(err, field+".machine")
		}
		if err := s.authorize(a, d.ActRequestsInitiate, m, mt.Machine); err != nil {
			// authorize names its NotFound "machine" already: replace, not prefix.
			e := *d.AsError(err)
			e.Field = field + ".machine"
			return nil, &e
		}
		if seen[m.ID] {
			return nil, d.FieldErrorf(field+".machine", "machine %s is listed twice", m.Name)
		}
		seen[m.ID] = true
		p, err := effectivePolicy(tx, m)
		if err != nil {
			return nil, err
		}
		if p == nil || !p.Enabled {
			// Checked here, not only in CheckTarget, so the field is the
			// machine's ("targets[0].machine"), not a port's.
			return nil, &d.Error{Kind: d.Conflict, Field: field + ".machine", Message: fmt.Sprintf("machine %s has no enabled JIT policy", m.Name)}
		}
		if err := m.CheckSupported("request access"); err != nil {
			return nil, d.WithField(err, field+".machine") // an offline machine is fine: it applies on return
		}
		if err := p.Justification.Check(in.Justification); err != nil {
			return nil, err
		}
		if len(mt.Ports) == 0 {
			return nil, d.FieldErrorf(field+".ports", "at least one port is required")
		}
		pm := plannedMachine{m: m, policy: p}
		var srcs []netip.Prefix
		for j, pt := range mt.Ports {
			pfield := fmt.Sprintf("%s.ports[%d]", field, j)
			if count++; count > d.MaxTargets {
				return nil, d.FieldErrorf("targets", "at most %d ports per request", d.MaxTargets)
			}
			src := defaultSource
			if pt.Source != "" {
				if src, err = d.ParseSource(pt.Source); err != nil {
					return nil, d.FieldErrorf(pfield+".source", "%v", err)
				}
			}
			if !src.IsValid() {
				return nil, d.FieldErrorf(pfield+".source", "source is required (the server could not tell the caller's address)")
			}
			if pt.Port == 0 {
				return nil, d.FieldErrorf(pfield+".port", "port must be from 1 to 65535")
			}
			spec := d.TargetSpec{Machine: m, Port: pt.Port, Protocol: pt.Protocol, Source: src}
			proto, err := d.CheckTarget(p, spec, 0, pfield)
			if err != nil {
				return nil, err
			}
			if p.Limits.DenyAnySource {
				// Counted over every source asked for on this machine, so
				// that two halves cannot add up to the whole.
				srcs = append(srcs, src)
				if wide, why := d.WideSources(srcs); wide {
					return nil, d.FieldErrorf(pfield+".source", "the policy of %s refuses wide sources: %s; ask for your own address or a narrow range", m.Name, why)
				}
			}
			rule, _ := p.Rule(pt.Port, proto)
			maxAllowed = min(maxAllowed, rule.MaxDuration)
			for k, prev := range pm.specs {
				if prev.Port == spec.Port && prev.Source == spec.Source && (pm.protos[k].Covers(proto) || proto.Covers(pm.protos[k])) {
					return nil, d.FieldErrorf(pfield+".port", "port %d is listed twice for %s", pt.Port, m.Name)
				}
			}
			pm.specs = append(pm.specs, spec)
			pm.protos = append(pm.protos, proto)
		}
		if lim := p.Limits.MaxActivePerUser; lim > 0 {
			n, err := tx.CountOpenTargets(m.ID, a.Person(), now)
			if err != nil {
				return nil, err
			}
			if n+len(pm.specs) > lim {
				return nil, &d.Error{Kind: d.Conflict, Field: field + ".machine", Message: fmt.Sprintf("the policy of %s allows %d open grant(s) per person; you hold %d", m.Name, lim, n)}
			}
		}
		rules = append(rules, p.Approval)
		pl.machines = append(pl.machines, pm)
	}
	pl.duration = d.Duration(min(s.cfg.DefaultDuration, maxAllowed.Std()))
	if in.Duration != "" {
		dur, err := d.ParseDuration(in.Duration)
		if err != nil {
			return nil, d.FieldErrorf("duration", "%v", err)
		}
		if err := d.CheckDuration(dur, s.cfg.ServerCap); err != nil {
			return nil, err
		}
		if dur > maxAllowed {
			return nil, d.FieldErrorf("duration", "duration %s exceeds the policy's maximum of %s for the ports asked for", dur, maxAllowed)
		}
		pl.duration = dur
	}
	pl.approval = d.CombineApproval(rules)
	return pl, nil
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
// Needs requests/initiate on every machine.
func (s *Service) RequestCreate(ctx context.Context, a d.Actor, in d.RequestInput) (*d.Request, error) {
	if !a.AllowedSomewhere(d.ActRequestsInitiate) {
		return nil, forbidden(a, d.ActRequestsInitiate)
	}
	var out *d.Request
	var topics []string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		topics = nil
		now := s.now()
		pl, err := s.planRequest(tx, a, in, now)
		if err != nil {
			return err
		}
		r := &d.Request{
			ID: d.NewRequestID(), Requester: a.Subject(), RequesterName: a.Name, RequesterPerson: personOf(a),
			Justification: in.Justification, CreatedAt: now, Duration: pl.duration, Approval: pl.approval,
		}
		status := d.StatusApplying
		if pl.approval.Manual() {
			status = d.StatusPending
			r.PendingUntil = now.Add(pl.approval.PendingTTL.Std())
		} else {
			r.Start, r.End = now, now.Add(pl.duration.Std())
		}
		r.Status = status
		for _, pm := range pl.machines {
			var version int64
			if status == d.StatusApplying {
				if version, err = tx.MachineBumpVersion(pm.m.ID); err != nil {
					return err
				}
				topics = append(topics, machineTopic(string(pm.m.ID)))
			}
			for k, spec := range pm.specs {
				t := d.Target{
					ID: d.NewTargetID(), RequestID: r.ID, MachineID: pm.m.ID, MachineName: pm.m.Name,
					Port: spec.Port, Protocol: pm.protos[k], Source: spec.Source, End: r.End,
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
			"targets": details, "duration": r.Duration, "end": r.End, "needs_approval": pl.approval.Manual(), "pending_until": r.PendingUntil}); err != nil {
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
		out = &d.DryRunResult{Duration: pl.duration, NeedsApproval: pl.approval.Manual(), Approval: pl.approval}
		if !pl.approval.Manual() {
			out.End = now.Add(pl.duration.Std())
		}
		for _, pm := range pl.machines {
			for k, spec := range pm.specs {
				out.Targets = append(out.Targets, d.Target{MachineID: pm.m.ID, MachineName: pm.m.Name, Port: spec.Port, Protocol: pm.protos[k], Source: spec.Source, End: out.End})
			}
		}
		return nil
	})
	return out, err
}
