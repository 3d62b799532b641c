package control

import (
	"context"
	"maps"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// Machines lists machines with their status. Needs machines/read.
func (s *Service) Machines(ctx context.Context, a d.Actor) ([]d.MachineView, error) {
	if !a.AllowedSomewhere(d.ActMachinesRead) {
		return nil, forbidden(a, d.ActMachinesRead)
	}
	var out []d.MachineView
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		ms, policies, err := machinesWithPolicies(tx)
		if err != nil {
			return err
		}
		access, err := machinesAccess(tx, s.now())
		if err != nil {
			return err
		}
		out = make([]d.MachineView, 0, len(ms))
		for i := range ms {
			if !a.Allowed(d.ActMachinesRead, &ms[i]) {
				continue // outside the caller's scopes
			}
			v, err := s.view(tx, &ms[i], policies[i])
			if err != nil {
				return err
			}
			withAccess(&v, access[ms[i].ID])
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// Machine returns one machine by name or ID. Needs machines/read.
func (s *Service) Machine(ctx context.Context, a d.Actor, ref string) (*d.MachineView, error) {
	if !a.AllowedSomewhere(d.ActMachinesRead) {
		return nil, forbidden(a, d.ActMachinesRead)
	}
	var out d.MachineView
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		m, err := s.machineFor(tx, a, d.ActMachinesRead, ref)
		if err != nil {
			return err
		}
		p, err := effectivePolicy(tx, m)
		if err != nil {
			return err
		}
		if out, err = s.view(tx, m, p); err != nil {
			return err
		}
		access, err := machinesAccess(tx, s.now())
		withAccess(&out, access[m.ID])
		return err
	})
	return &out, err
}

func (s *Service) view(tx *store.Tx, m *d.Machine, p *d.Policy) (d.MachineView, error) {
	now := s.now()
	st, reason := m.Status(p, now, s.cfg.OfflineAfter)
	ts, err := tx.TargetsByMachine(m.ID, d.GrantedStatuses...)
	if err != nil {
		return d.MachineView{}, err
	}
	n := 0
	for _, t := range ts {
		if now.Before(t.End) {
			n++
		}
	}
	return d.MachineView{Machine: *m, Status: st, StatusReason: reason, Online: s.hub.Has(machineTopic(string(m.ID))) || m.Online(now, s.cfg.OnlineWindow), Policy: p, ActiveGrants: n,
		ClockWarning: m.Inventory.Clock.SkewWarning(s.cfg.ClockSkewWarn)}, nil
}

// ActiveGrants counts grants applying or active at now, for metrics.
func (s *Service) ActiveGrants(ctx context.Context) (int, error) {
	n := 0
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		n, err = tx.CountActiveTargets(s.now())
		return err
	})
	return n, err
}

// MachineLabel edits a machine's labels. Needs admin (labels decide which
// scopes and selector policies cover a machine). The machine's desired
// state is recomputed, since its effective policy may change.
func (s *Service) MachineLabel(ctx context.Context, a d.Actor, ref string, in d.LabelsInput) (*d.Machine, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	var out *d.Machine
	err := s.update(ctx, func(tx *store.Tx, now time.Time) error {
		m, err := machineRef(tx, ref)
		if err != nil {
			return err
		}
		labels := maps.Clone(m.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		for _, k := range in.Remove {
			delete(labels, k)
		}
		maps.Copy(labels, in.Set)
		if err := d.ValidateLabels(labels); err != nil {
			return err
		}
		old := m.Labels
		m.Labels = labels
		if err := tx.MachineUpdate(m); err != nil {
			return err
		}
		version, err := tx.MachineBumpVersion(m.ID)
		if err != nil {
			return err
		}
		p, err := effectivePolicy(tx, m)
		if err != nil {
			return err
		}
		if p == nil {
			p = &d.Policy{MachineID: m.ID}
		}
		if err := s.revokeUncovered(tx, now, a, m, p, version); err != nil {
			return err
		}
		out = m
		return s.audit(tx, now, a, d.EvMachineRelabelled, string(m.ID), "", "", map[string]any{"machine": m.Name, "from": old, "to": labels})
	})
	return out, err
}

// MachineDelete removes a machine: its open grants are revoked (reason
// "machine deleted"), its policy goes, and its agent certificate stops
// working at once (agents are authenticated against the machine table).
// Its requests stay for the record. Needs admin.
//
// The agent can no longer fetch its state, so the revocations do not reach
// its kernel: its grants still close at their end times there, and its
// protected ports stay closed. Run `drawbridge agent --cleanup` on a host
// that is being retired.
func (s *Service) MachineDelete(ctx context.Context, a d.Actor, ref string) error {
	if err := s.require(a, d.ActAdmin); err != nil {
		return err
	}
	return s.update(ctx, func(tx *store.Tx, now time.Time) error {
		m, err := machineRef(tx, ref)
		if err != nil {
			return err
		}
		ts, err := tx.TargetsByMachine(m.ID, d.OpenStatuses...)
		if err != nil {
			return err
		}
		reqs := map[d.RequestID]bool{}
		for i := range ts {
			if ts[i].Revoke("machine deleted", false) {
				if err := tx.TargetUpdate(&ts[i]); err != nil {
					return err
				}
				reqs[ts[i].RequestID] = true
			}
		}
		for id := range reqs {
			if err := refreshRequestStatus(tx, id); err != nil {
				return err
			}
		}
		if err := tx.MachineDelete(m.ID); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvMachineDeleted, string(m.ID), "", "", map[string]any{"machine": m.Name, "revoked_targets": len(ts)})
	})
}
