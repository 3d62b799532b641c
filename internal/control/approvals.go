package control

import (
	"context"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// Approve records the caller's approval of a pending request, or of an
// active request's pending extension. At the final approval (every level's
// quorum reached) the access window starts and the grants go to the agents;
// for an extension the end time moves. Needs requests/approve on every
// machine of the request, a match for the current level's approvers, and not
// to be the requester (no self-approval): d.MayDecide decides.
func (s *Service) Approve(ctx context.Context, a d.Actor, id d.RequestID, in d.DecisionInput) (*d.Request, error) {
	return s.decide(ctx, a, id, d.DecisionApprove, in.Reason)
}

// Deny refuses a pending request (or a pending extension); a reason is
// required. One denial ends it.
func (s *Service) Deny(ctx context.Context, a d.Actor, id d.RequestID, in d.DecisionInput) (*d.Request, error) {
	if strings.TrimSpace(in.Reason) == "" {
		return nil, d.FieldErrorf("reason", "a reason is required to deny")
	}
	return s.decide(ctx, a, id, d.DecisionDeny, in.Reason)
}

func (s *Service) decide(ctx context.Context, a d.Actor, id d.RequestID, decision, reason string) (*d.Request, error) {
	if !d.ValidID(string(id), d.RequestPrefix) {
		return nil, d.FieldErrorf("id", "malformed request ID %s", d.Excerpt(string(id)))
	}
	if err := d.CheckText("reason", reason, d.MaxReason); err != nil {
		return nil, err
	}
	if !a.AllowedSomewhere(d.ActRequestsApprove) {
		return nil, forbidden(a, d.ActRequestsApprove)
	}
	return s.changeRequest(ctx, id, decision == d.DecisionDeny, func(tx *store.Tx, now time.Time, r *d.Request) error {
		if err := visible(tx, a, r); err != nil {
			return err
		}
		ms, deleted, err := requestMachines(tx, r)
		if err != nil {
			return err
		}
		kind, level, err := d.MayDecide(a, r, ms, deleted, now)
		if err != nil {
			return err
		}
		rule := r.DecisionRule(kind)
		round := d.Round(rule, r.Approvals, kind) // before this decision
		ap := d.Approval{Approver: a.Subject(), ApproverName: a.Name, ApproverPerson: personOf(a), Kind: kind, Level: level, Decision: decision, Reason: reason, Time: now}
		if err := tx.ApprovalAppend(r.ID, ap); err != nil {
			return err
		}
		r.Approvals = append(r.Approvals, ap)
		if decision == d.DecisionDeny {
			return s.applyDenial(tx, now, a, r, kind, reason)
		}
		if err := s.audit(tx, now, a, d.EvRequestApproved, string(r.ID), reason, r.ID, map[string]any{"kind": kind, "level": level + 1}); err != nil {
			return err
		}
		if p := d.Progress(rule, append(round, ap), kind); p.Final {
			if kind == d.ApprovalForRequest {
				err = checkSupported(tx, r, "approve")
				if err == nil {
					err = s.activate(tx, now, r)
				}
			} else if err = s.checkExtension(tx, r, r.ExtendBy); err == nil {
				// Checked again at approval: the policy may have been
				// tightened while the extension waited.
				err = s.extendNow(tx, now, a, r, r.ExtendBy)
			}
			if err != nil {
				return err
			}
		}
		return tx.RequestUpdate(r)
	})
}

func (s *Service) applyDenial(tx *store.Tx, now time.Time, a d.Actor, r *d.Request, kind, reason string) error {
	why := "denied by " + a.Name + ": " + reason
	if kind == d.ApprovalForExtension {
		r.ExtendBy = 0
	} else {
		for i := range r.Targets {
			if r.Targets[i].Deny(why) {
				if err := tx.TargetUpdate(&r.Targets[i]); err != nil {
					return err
				}
			}
		}
		r.Status, r.PendingUntil = d.AggregateStatus(r.Targets), time.Time{}
	}
	if err := tx.RequestUpdate(r); err != nil {
		return err
	}
	return s.audit(tx, now, a, d.EvRequestDenied, string(r.ID), reason, r.ID, map[string]any{"kind": kind})
}

// activate starts the access window of a finally approved request.
func (s *Service) activate(tx *store.Tx, now time.Time, r *d.Request) error {
	r.Start, r.End, r.PendingUntil = now, now.Add(r.Duration.Std()), time.Time{}
	bump := newBumper(tx)
	for i := range r.Targets {
		t := &r.Targets[i]
		v, err := bump.version(t.MachineID)
		if err != nil {
			return err
		}
		if t.Activate(r.End, v) {
			if err := tx.TargetUpdate(t); err != nil {
				return err
			}
		}
	}
	r.Status = d.AggregateStatus(r.Targets)
	return nil
}

// Approvals lists what waits for the caller: pending requests and pending
// extensions the caller may decide on now, newest first, at most
// store.MaxLimit. The caller's scope is part of the query (requests whose
// every machine the caller may approve on, not made by the caller), so
// requests out of scope never crowd out those in it. Every target of a
// listed request is in the caller's approval scope, so nothing in it needs
// redacting.
func (s *Service) Approvals(ctx context.Context, a d.Actor) ([]d.Request, error) {
	if !a.AllowedSomewhere(d.ActRequestsApprove) {
		return nil, forbidden(a, d.ActRequestsApprove)
	}
	out := []d.Request{}
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		ids, err := machinesWhere(tx, a, d.ActRequestsApprove)
		if err != nil {
			return err
		}
		now := s.now()
		f := store.RequestFilter{Awaiting: true, PendingAfter: now, AllOn: ids, NotPerson: a.Person(), Limit: store.MaxLimit}
		for {
			rs, err := tx.Requests(f)
			if err != nil {
				return err
			}
			for i := range rs {
				// What the query cannot see: approver lists, decisions
				// already made by the caller, subjects other than the person.
				ms, deleted, err := requestMachines(tx, &rs[i])
				if err != nil {
					return err
				}
				if _, _, refusal := d.MayDecide(a, &rs[i], ms, deleted, now); refusal == nil {
					out = append(out, rs[i])
					if len(out) == store.MaxLimit {
						return nil
					}
				}
			}
			if len(rs) < store.MaxLimit {
				return nil
			}
			f.Before = &rs[len(rs)-1]
		}
	})
	return out, err
}
