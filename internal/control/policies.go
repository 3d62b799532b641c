package control

import (
	"context"
	"fmt"
	"slices"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// PolicySet creates or changes a machine's JIT policy. Open grants that the
// new policy no longer covers (port removed, source no longer allowed, or
// policy disabled) are revoked in the same transaction, so disabling leaves
// the machine as it was. The result lists the ways the change weakened the
// policy that governed the machine before (its own, else a selector
// policy); the audit event records them too. Needs policies/write.
func (s *Service) PolicySet(ctx context.Context, a d.Actor, ref string, in d.PolicyInput) (*d.PolicyChange, error) {
	if !a.AllowedSomewhere(d.ActPoliciesWrite) {
		return nil, forbidden(a, d.ActPoliciesWrite)
	}
	if in.Priority != nil {
		return nil, d.FieldErrorf("priority", "priority applies only to selector policies (a machine's own policy always wins)")
	}
	rules, err := s.parseRules(in.Rules)
	if err != nil {
		return nil, err
	}
	var out *d.PolicyChange
	var topics []string
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		now := s.now()
		m, err := machineRef(tx, ref)
		if err != nil {
			return err
		}
		if err := s.authorize(a, d.ActPoliciesWrite, m, ref); err != nil {
			return err
		}
		old, err := tx.Policy(m.ID)
		if d.ErrorKind(err) == d.NotFound {
			old, err = nil, nil
		}
		if err != nil {
			return err
		}
		before, err := effectivePolicy(tx, m)
		if err != nil {
			return err
		}
		p := &d.Policy{MachineID: m.ID, Enabled: true, UpdatedAt: now, UpdatedBy: a.Subject()}
		switch {
		case rules != nil:
			p.Rules = rules
		case old != nil:
			p.Rules = old.Rules
		default:
			p.Rules = d.DefaultRules(m.Inventory.OS, s.cfg.ServerCap)
		}
		if old != nil {
			p.Enabled = old.Enabled
		}
		if in.Enabled != nil {
			p.Enabled = *in.Enabled
		}
		if p.Enabled && (old == nil || !old.Enabled) {
			if err := m.CheckSupported("enable a policy"); err != nil {
				return err
			}
		}
		var oldSettings *d.Settings
		if old != nil {
			st := old.Settings()
			oldSettings = &st
		}
		st, err := s.buildSettings(oldSettings, in)
		if err != nil {
			return err
		}
		p.SetSettings(st)
		if err := d.CheckLimitsAgainstRules(p.Limits, p.Rules); err != nil {
			return err
		}
		if err := tx.PolicyPut(p); err != nil {
			return err
		}
		weak := d.Weakenings(before, p)
		action := d.EvPolicySet
		switch {
		case p.Enabled && (old == nil || !old.Enabled):
			action = d.EvPolicyEnabled
		case !p.Enabled && old != nil && old.Enabled:
			action = d.EvPolicyDisabled
		}
		details := map[string]any{"machine": m.Name, "enabled": p.Enabled, "rules": p.Rules, "settings": p.Settings()}
		if len(weak) > 0 {
			details["weakenings"] = weak
		}
		if err := s.audit(tx, now, a, action, string(m.ID), "", "", details); err != nil {
			return err
		}
		version, err := tx.MachineBumpVersion(m.ID)
		if err != nil {
			return err
		}
		if err := s.revokeUncovered(tx, now, a, m, p, version); err != nil {
			return err
		}
		topics = []string{machineTopic(string(m.ID))}
		out = &d.PolicyChange{Policy: *p, Weakenings: weak}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.hub.Publish(topics...)
	return out, nil
}

// PolicyDelete removes a machine's own policy, unlike disabling it: the
// machine falls back to the matching selector policy with the highest
// precedence, or to none. Grants the fallback does not cover are revoked in
// the same transaction. The result says what governs the machine now and
// how that is weaker; the audit event records both. NotFound if the machine
// has no policy of its own. Needs policies/write on the machine.
func (s *Service) PolicyDelete(ctx context.Context, a d.Actor, ref string) (*d.PolicyDeletion, error) {
	if !a.AllowedSomewhere(d.ActPoliciesWrite) {
		return nil, forbidden(a, d.ActPoliciesWrite)
	}
	var out *d.PolicyDeletion
	var topics []string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		now := s.now()
		m, err := machineRef(tx, ref)
		if err != nil {
			return err
		}
		if err := s.authorize(a, d.ActPoliciesWrite, m, ref); err != nil {
			return err
		}
		old, err := tx.Policy(m.ID)
		if d.ErrorKind(err) == d.NotFound {
			return d.Errorf(d.NotFound, "machine %s has no policy of its own (see `drawbridge policy show %s` for what governs it)", m.Name, m.Name)
		}
		if err != nil {
			return err
		}
		if err := tx.PolicyDelete(m.ID); err != nil {
			return err
		}
		after, err := effectivePolicy(tx, m)
		if err != nil {
			return err
		}
		weak := d.Weakenings(old, after)
		details := map[string]any{"machine": m.Name, "governed_by": "none"}
		if after != nil {
			details["governed_by"] = after.ID
		}
		if len(weak) > 0 {
			details["weakenings"] = weak
		}
		if err := s.audit(tx, now, a, d.EvPolicyDeleted, string(m.ID), "", "", details); err != nil {
			return err
		}
		version, err := tx.MachineBumpVersion(m.ID)
		if err != nil {
			return err
		}
		cover := after
		if cover == nil {
			cover = &d.Policy{MachineID: m.ID}
		}
		if err := s.revokeUncovered(tx, now, a, m, cover, version); err != nil {
			return err
		}
		topics = []string{machineTopic(string(m.ID))}
		out = &d.PolicyDeletion{Policy: after, Weakenings: weak}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.hub.Publish(topics...)
	return out, nil
}

// revokeUncovered revokes open targets on m that policy p no longer covers.
func (s *Service) revokeUncovered(tx *store.Tx, now time.Time, a d.Actor, m *d.Machine, p *d.Policy, version int64) error {
	ts, err := tx.TargetsByMachine(m.ID, d.StatusPending, d.StatusApproved, d.StatusApplying, d.StatusActive)
	if err != nil {
		return err
	}
	if err := tx.AttachUsage(ts); err != nil {
		return err
	}
	var touched []d.RequestID
	for i := range ts {
		t := &ts[i]
		reason := ""
		r, ok := p.Rule(t.Port, t.Protocol)
		switch {
		case !p.Enabled:
			reason = "JIT policy disabled"
		case !ok:
			reason = fmt.Sprintf("port %d/%s removed from the JIT policy", t.Port, t.Protocol)
		case !r.AllowsSource(t.Source):
			reason = fmt.Sprintf("source %s no longer allowed by the JIT policy", t.Source)
		default:
			continue
		}
		t.Revoke(reason, false)
		t.Version = version
		if err := tx.TargetUpdate(t); err != nil {
			return err
		}
		if err := s.audit(tx, now, a, d.EvRequestRevoked, string(t.ID), reason, t.RequestID, usageDetails(t)); err != nil {
			return err
		}
		if !slices.Contains(touched, t.RequestID) {
			touched = append(touched, t.RequestID)
		}
	}
	for _, id := range touched {
		if err := refreshRequestStatus(tx, id); err != nil {
			return err
		}
	}
	return nil
}

// Policy returns the policy that governs a machine (its own, else the most
// specific matching selector policy). NotFound if none does. Needs
// policies/read on the machine.
func (s *Service) Policy(ctx context.Context, a d.Actor, ref string) (*d.Machine, *d.Policy, error) {
	if !a.AllowedSomewhere(d.ActPoliciesRead) {
		return nil, nil, forbidden(a, d.ActPoliciesRead)
	}
	var m *d.Machine
	var p *d.Policy
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		if m, err = machineRef(tx, ref); err != nil {
			return err
		}
		if err := s.authorize(a, d.ActPoliciesRead, m, ref); err != nil {
			return err
		}
		if p, err = effectivePolicy(tx, m); err != nil {
			return err
		}
		if p == nil {
			return &d.Error{Kind: d.NotFound, Message: fmt.Sprintf("machine %s has no JIT policy; enable one with `drawbridge policy enable %s`", m.Name, m.Name)}
		}
		return nil
	})
	return m, p, err
}

// Policies lists machine policies the caller may read, then selector
// policies (those need policies/read everywhere).
func (s *Service) Policies(ctx context.Context, a d.Actor) ([]d.Policy, error) {
	if !a.AllowedSomewhere(d.ActPoliciesRead) {
		return nil, forbidden(a, d.ActPoliciesRead)
	}
	var out []d.Policy
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		ps, err := tx.Policies()
		if err != nil {
			return err
		}
		for _, p := range ps {
			m, err := tx.Machine(p.MachineID)
			if err != nil {
				return err
			}
			if a.Allowed(d.ActPoliciesRead, m) {
				out = append(out, p)
			}
		}
		if a.Can(d.ActPoliciesRead) {
			sels, err := tx.SelectorPolicies()
			if err != nil {
				return err
			}
			out = append(out, sels...)
		}
		return nil
	})
	return out, err
}
