package control

import (
	"context"
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
		}
		ms, deleted, err := requestMachines(tx, r)
		if err != nil {
			return err
		}
		policies, err := policiesOf(tx, ms)
		if err != nil {
			return err
		}
		needsApproval, err := d.CheckExtension(a, r, by, ms, deleted, policies, s.cfg.ServerCap, now)
		if err != nil {
			return err
		}
		if needsApproval {
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

// checkExtension loads the effective policies of r's machines and checks
// that extending r by by fits them (d.ExtensionFits).
func (s *Service) checkExtension(tx *store.Tx, r *d.Request, by d.Duration) error {
	ms, _, err := requestMachines(tx, r)
	if err != nil {
		return err
	}
	policies, err := policiesOf(tx, ms)
	if err != nil {
		return err
	}
	return d.ExtensionFits(r, by, policies, s.cfg.ServerCap)
}

// policiesOf loads the effective policy of each machine (nil: none).
func policiesOf(tx *store.Tx, ms []*d.Machine) (map[d.MachineID]*d.Policy, error) {
	out := make(map[d.MachineID]*d.Policy, len(ms))
	for _, m := range ms {
		p, err := effectivePolicy(tx, m)
		if err != nil {
			return nil, err
		}
		out[m.ID] = p
	}
	return out, nil
}

// extendNow moves the end of r's open targets by by.
func (s *Service) extendNow(tx *store.Tx, now time.Time, a d.Actor, r *d.Request, by d.Duration) error {
	r.End = r.End.Add(by.Std())
	r.ExtendBy = 0
	bump := newBumper(tx)
	for i := range r.Targets {
		t := &r.Targets[i]
		if !t.Granted(now) {
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
