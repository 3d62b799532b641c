package control

import (
	"context"
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// Extend asks for more time on the caller's active request. The new end
// must stay within every rule's maximum counted from the original start.
// When the request was created under manual approval with extensions that
// need approval, the extension waits for approvers; otherwise it applies at
// once (the agents reset the kernel timeouts).
func (s *Service) Extend(ctx context.Context, a d.Actor, id d.RequestID, in d.ExtendInput) (*d.Request, error) {
	if !d.ValidID(string(id), d.RequestPrefix) {
		return nil, d.FieldErrorf("id", "malformed request ID %s", d.Excerpt(string(id)))
	}
	by, err := d.ParseDuration(in.By)
	if err != nil || by.Std() < d.MinDuration {
		return nil, d.FieldErrorf("by", "by must be a duration of at least 1s, such as 30m")
	}
	if err := d.CheckText("reason", in.Reason, d.MaxReason); err != nil {
		return nil, err
	}
	return s.changeRequest(ctx, id, false, func(tx *store.Tx, now time.Time, r *d.Request) error {
		if r.Requester != a.Subject() {
			if err := visible(tx, a, r); err != nil {
				return err
			}
			return &d.Error{Kind: d.Forbidden, Message: "only the requester can extend a request"}
		}
		// More time is a new grant of access: the requester must still be
		// allowed to ask for it on every machine.
		ok, err := onMachines(tx, r, func(m *d.Machine) bool { return a.Allowed(d.ActRequestsInitiate, m) }, true)
		if err != nil {
			return err
		}
		if !ok {
			return forbidden(a, d.ActRequestsInitiate)
		}
		open := 0
		for _, t := range r.Targets {
			if (t.Status == d.StatusApplying || t.Status == d.StatusActive) && now.Before(t.End) {
				open++
			}
		}
		if open == 0 {
			return &d.Error{Kind: d.Conflict, Message: fmt.Sprintf("request %s is %s; only open access can be extended", id, d.AggregateStatus(r.Targets))}
		}
		if r.ExtendBy > 0 {
			return &d.Error{Kind: d.Conflict, Message: fmt.Sprintf("request %s already has an extension of %s waiting for approval", id, r.ExtendBy)}
		}
		if err := s.checkExtension(tx, r, by); err != nil {
			return err
		}
		if r.Approval.Manual() && r.Approval.Extensions != d.ApprovalAuto {
			r.ExtendBy = by
			if err := tx.RequestUpdate(r); err != nil {
				return err
			}
			return s.audit(tx, now, a, d.EvRequestExtended, string(r.ID), in.Reason, r.ID, map[string]any{"by": by, "waits_for_approval": true})
		}
		if err := s.extendNow(tx, now, a, r, by); err != nil {
			return err
		}
		return tx.RequestUpdate(r)
	})
}

// checkExtension checks that extending r by by keeps every open target
// within its rule's maximum counted from the original start, and within
// the server cap, under the policies as they are now.
func (s *Service) checkExtension(tx *store.Tx, r *d.Request, by d.Duration) error {
	newEnd := r.End.Add(by.Std())
	for i, t := range r.Targets {
		if t.Status != d.StatusApplying && t.Status != d.StatusActive {
			continue
		}
		m, err := tx.Machine(t.MachineID)
		if err != nil {
			return err
		}
		p, err := effectivePolicy(tx, m)
		if err != nil {
			return err
		}
		rule, ok := d.PortRule{}, false
		if p != nil && p.Enabled {
			rule, ok = p.Rule(t.Port, t.Protocol)
		}
		if !ok {
			return &d.Error{Kind: d.Conflict, Field: fmt.Sprintf("targets[%d]", i), Message: fmt.Sprintf("port %d/%s on %s is no longer in its JIT policy", t.Port, t.Protocol, t.MachineName)}
		}
		if total := newEnd.Sub(r.Start); total > rule.MaxDuration.Std() || total > s.cfg.ServerCap {
			return d.FieldErrorf("by", "extending by %s makes %s from the start, over the maximum of %s for port %d on %s", by, d.Duration(total.Round(time.Second)), rule.MaxDuration, t.Port, t.MachineName)
		}
	}
	return nil
}

// extendNow moves the end of r's open targets by by.
func (s *Service) extendNow(tx *store.Tx, now time.Time, a d.Actor, r *d.Request, by d.Duration) error {
	r.End = r.End.Add(by.Std())
	r.ExtendBy = 0
	bump := newBumper(tx)
	for i := range r.Targets {
		t := &r.Targets[i]
		if (t.Status != d.StatusApplying && t.Status != d.StatusActive) || !now.Before(t.End) {
			continue
		}
		v, err := bump.version(t.MachineID)
		if err != nil {
			return err
		}
		t.End, t.Version = r.End, v
		if err := tx.TargetUpdate(t); err != nil {
			return err
		}
	}
	return s.audit(tx, now, a, d.EvRequestExtended, string(r.ID), "", r.ID, map[string]any{"by": by, "end": r.End})
}
