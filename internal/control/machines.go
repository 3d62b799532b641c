package control

import (
	"context"

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
		m, err := machineRef(tx, ref)
		if err != nil {
			return err
		}
		if err := s.authorize(a, d.ActMachinesRead, m, ref); err != nil {
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
	ts, err := tx.TargetsByMachine(m.ID, d.StatusActive, d.StatusApplying)
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

// Events lists audit events after an ID, oldest first. Needs audit/read.
func (s *Service) Events(ctx context.Context, a d.Actor, f store.EventFilter) ([]d.Event, error) {
	if err := s.require(a, d.ActAuditRead); err != nil {
		return nil, err
	}
	var es []d.Event
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		es, err = tx.Events(f)
		return err
	})
	return es, err
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
