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
	err = s.update(ctx, func(tx *store.Tx, now time.Time) error {
		m, err := s.machineFor(tx, a, d.ActPoliciesWrite, ref)
		if err != nil {
			return err
		}
		old, err := ownPolicy(tx, m)
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
		out = &d.PolicyChange{Policy: *p, Weakenings: weak}
		return nil
	})
	if err != nil {
		return nil, err
	}
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
	err := s.update(ctx, func(tx *store.Tx, now time.Time) error {
		m, err := s.machineFor(tx, a, d.ActPoliciesWrite, ref)
		if err != nil {
			return err
		}
		old, err := ownPolicy(tx, m)
		if err != nil {
			return err
		}
		if old == nil {
			return d.Errorf(d.NotFound, "machine %s has no policy of its own (see `drawbridge policy show %s` for what governs it)", m.Name, m.Name)
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
		out = &d.PolicyDeletion{Policy: after, Weakenings: weak}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// revokeUncovered revokes open targets on m that policy p no longer covers
// (d.Uncovered).
func (s *Service) revokeUncovered(tx *store.Tx, now time.Time, a d.Actor, m *d.Machine, p *d.Policy, version int64) error {
	ts, err := tx.TargetsByMachine(m.ID, d.OpenStatuses...)
	if err != nil {
		return err
	}
	if err := tx.AttachUsage(ts); err != nil {
		return err
	}
	var touched []d.RequestID
	for _, u := range d.Uncovered(p, ts) {
		t, reason := &ts[u.Index], u.Reason
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
		if m, err = s.machineFor(tx, a, d.ActPoliciesRead, ref); err != nil {
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

// parseRules reads API rules into normalised port rules; nil in, nil out.
func (s *Service) parseRules(in []d.RuleInput) ([]d.PortRule, error) {
	if in == nil {
		return nil, nil
	}
	raw := make([]d.PortRule, len(in))
	for i, r := range in {
		md, err := givenDuration(r.MaxDuration, fmt.Sprintf("rules[%d].max_duration", i), "max duration must be at least 1s; leave it out for the default")
		if err != nil {
			return nil, err
		}
		idle, err := givenDuration(r.IdleTimeout, fmt.Sprintf("rules[%d].idle_timeout", i), "idle timeout must be at least 1s; leave it out for none")
		if err != nil {
			return nil, err
		}
		if r.AllowedSources != nil && len(r.AllowedSources) == 0 {
			// Only an absent list means "*": an empty one is a mistake,
			// not a silent "any source".
			return nil, d.FieldErrorf(fmt.Sprintf("rules[%d].allowed_sources", i), "give at least one source, or leave the field out for any source (*)")
		}
		raw[i] = d.PortRule{Port: r.Port, Protocol: r.Protocol, AllowedSources: r.AllowedSources, MaxDuration: md, IdleTimeout: idle}
	}
	return d.NormalizeRules(raw, s.cfg.ServerCap)
}

// givenDuration parses an optional policy duration. Only an absent field
// ("") means the default (returned as 0); a given one must be at least
// d.MinDuration (msg says so), so that "0s" or "PT0.0001S" is an error
// naming the field rather than a silent default or "off".
func givenDuration(s, field, msg string) (d.Duration, error) {
	v, err := optionalDuration(s, field)
	if err != nil {
		return 0, err
	}
	if s != "" && v.Std() < d.MinDuration {
		return 0, d.FieldErrorf(field, "%s", msg)
	}
	return v, nil
}

// buildSettings applies the input's approval, justification and limits on
// top of old (nil: defaults), validated.
func (s *Service) buildSettings(old *d.Settings, in d.PolicyInput) (d.Settings, error) {
	var st d.Settings
	if old != nil {
		st = *old
	}
	if in.Approval != nil {
		ttl, err := givenDuration(in.Approval.PendingTTL, "approval.pending_ttl", "pending TTL must be at least 1m; leave it out for the default (1h)")
		if err != nil {
			return st, err
		}
		st.Approval = d.ApprovalRule{Mode: in.Approval.Mode, Levels: in.Approval.Levels, PendingTTL: ttl, Extensions: in.Approval.Extensions}
	}
	if in.Justification != nil {
		st.Justification = *in.Justification
	}
	if in.Limits != nil {
		st.Limits = *in.Limits
	}
	var err error
	if st.Approval, err = d.NormalizeApproval(st.Approval, s.cfg.ServerCap); err != nil {
		return st, err
	}
	if st.Justification, err = d.NormalizeJustification(st.Justification); err != nil {
		return st, err
	}
	st.Limits, err = d.NormalizeLimits(st.Limits)
	return st, err
}

// ownPolicy returns m's own policy, or nil when it has none.
func ownPolicy(tx *store.Tx, m *d.Machine) (*d.Policy, error) {
	p, err := tx.Policy(m.ID)
	if d.ErrorKind(err) == d.NotFound {
		return nil, nil
	}
	return p, err
}

// effectivePolicy returns the policy that governs m (its own, else the most
// specific matching selector policy), or nil.
func effectivePolicy(tx *store.Tx, m *d.Machine) (*d.Policy, error) {
	own, err := ownPolicy(tx, m)
	if err != nil {
		return nil, err
	}
	if own != nil {
		return own, nil
	}
	sels, err := tx.SelectorPolicies()
	if err != nil {
		return nil, err
	}
	return d.EffectivePolicy(m, nil, sels), nil
}

// machinesWithPolicies returns every machine and, at the same index, the
// policy that governs it (nil for none), in three queries.
func machinesWithPolicies(tx *store.Tx) ([]d.Machine, []*d.Policy, error) {
	ms, err := tx.Machines()
	if err != nil {
		return nil, nil, err
	}
	ps, err := tx.Policies()
	if err != nil {
		return nil, nil, err
	}
	own := map[d.MachineID]*d.Policy{}
	for i := range ps {
		own[ps[i].MachineID] = &ps[i]
	}
	sels, err := tx.SelectorPolicies()
	if err != nil {
		return nil, nil, err
	}
	out := make([]*d.Policy, len(ms))
	for i := range ms {
		out[i] = d.EffectivePolicy(&ms[i], own[ms[i].ID], sels)
	}
	return ms, out, nil
}

// SelectorPolicySet creates or changes the policy for every machine whose
// labels match in.Selector. It needs policies/write everywhere (a selector
// can match machines enrolled later). Grants that the machines' new
// effective policy no longer covers are revoked in the same transaction.
// The result lists the ways the change weakened the selector policy, and
// the governing policy of each machine it now governs or governed (a new or
// re-prioritised selector policy can take over from a stricter one).
func (s *Service) SelectorPolicySet(ctx context.Context, a d.Actor, in d.PolicyInput) (*d.PolicyChange, error) {
	if err := s.require(a, d.ActPoliciesWrite); err != nil {
		return nil, err
	}
	sel, err := d.ParseSelector(in.Selector)
	if err != nil {
		return nil, d.FieldErrorf("selector", "%v", err)
	}
	rules, err := s.parseRules(in.Rules)
	if err != nil {
		return nil, err
	}
	var out *d.PolicyChange
	err = s.update(ctx, func(tx *store.Tx, now time.Time) error {
		ms, before, err := machinesWithPolicies(tx)
		if err != nil {
			return err
		}
		all, err := tx.SelectorPolicies()
		if err != nil {
			return err
		}
		var old *d.Policy
		for i := range all {
			if all[i].Selector == sel.String() {
				old = &all[i]
			}
		}
		p := &d.Policy{ID: d.PolicyPrefix + d.RandomString(16), Selector: sel.String(), Enabled: true, UpdatedAt: now, UpdatedBy: a.Subject()}
		var oldSettings *d.Settings
		switch {
		case old != nil:
			p.ID, p.Enabled, p.Rules, p.Priority = old.ID, old.Enabled, old.Rules, old.Priority
			st := old.Settings()
			oldSettings = &st
		case rules == nil:
			p.Rules = d.DefaultRules("linux", s.cfg.ServerCap)
		}
		if rules != nil {
			p.Rules = rules
		}
		if in.Enabled != nil {
			p.Enabled = *in.Enabled
		}
		if in.Priority != nil {
			p.Priority = *in.Priority
		}
		st, err := s.buildSettings(oldSettings, in)
		if err != nil {
			return err
		}
		p.SetSettings(st)
		if err := d.CheckLimitsAgainstRules(p.Limits, p.Rules); err != nil {
			return err
		}
		if err := d.CheckSelectorConflict(sel, p.Priority, all, p.ID); err != nil {
			return err
		}
		if err := tx.SelectorPolicyPut(p); err != nil {
			return err
		}
		_, after, err := machinesWithPolicies(tx)
		if err != nil {
			return err
		}
		weak := d.Weakenings(old, p)
		weak = append(weak, machineWeakenings(ms, before, after, p.ID)...)
		details := map[string]any{"selector": p.Selector, "enabled": p.Enabled, "rules": p.Rules, "settings": p.Settings()}
		if len(weak) > 0 {
			details["weakenings"] = weak
		}
		if err := s.audit(tx, now, a, d.EvPolicySet, p.ID, "", "", details); err != nil {
			return err
		}
		if err := s.reapplyAll(tx, now, a); err != nil {
			return err
		}
		out = &d.PolicyChange{Policy: *p, Weakenings: weak}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxMachineWeakenings bounds the per-machine weakenings one selector
// policy change reports (and writes into its audit event) on a large fleet.
const maxMachineWeakenings = 100

// machineWeakenings lists, per machine, how its governing policy weakened
// from before to after, leaving out machines that policy id governs both
// times (the policy's own weakenings say it once for all of them). Past
// maxMachineWeakenings, one last entry counts the rest.
func machineWeakenings(ms []d.Machine, before, after []*d.Policy, id string) []d.Weakening {
	var out []d.Weakening
	more := 0
	for i := range ms {
		if before[i] != nil && after[i] != nil && before[i].ID == id && after[i].ID == id {
			continue
		}
		for _, w := range d.Weakenings(before[i], after[i]) {
			if len(out) == maxMachineWeakenings {
				more++
				continue
			}
			w.Machine = ms[i].Name
			out = append(out, w)
		}
	}
	if more > 0 {
		out = append(out, d.Weakening{Field: "machines", Message: fmt.Sprintf("and %d more weakening(s) on other machines", more)})
	}
	return out
}

// SelectorPolicyDelete removes a selector policy; machines it governed fall
// back to the next matching policy (or none), and their uncovered grants are
// revoked. The audit event records how each machine's governing policy
// weakened. Needs policies/write everywhere.
func (s *Service) SelectorPolicyDelete(ctx context.Context, a d.Actor, id string) error {
	if err := s.require(a, d.ActPoliciesWrite); err != nil {
		return err
	}
	if !d.ValidID(id, d.PolicyPrefix) {
		return d.FieldErrorf("id", "malformed policy ID %s", d.Excerpt(id))
	}
	return s.update(ctx, func(tx *store.Tx, now time.Time) error {
		ms, before, err := machinesWithPolicies(tx)
		if err != nil {
			return err
		}
		if err := tx.SelectorPolicyDelete(id); err != nil {
			return err
		}
		_, after, err := machinesWithPolicies(tx)
		if err != nil {
			return err
		}
		var details map[string]any
		if weak := machineWeakenings(ms, before, after, ""); len(weak) > 0 {
			details = map[string]any{"weakenings": weak}
		}
		if err := s.audit(tx, now, a, d.EvPolicyDeleted, id, "", "", details); err != nil {
			return err
		}
		return s.reapplyAll(tx, now, a)
	})
}

// SelectorPolicies lists the selector policies. Needs policies/read
// somewhere; as in Policies, only a caller with policies/read everywhere
// sees them (a selector can govern machines outside any narrower scope).
func (s *Service) SelectorPolicies(ctx context.Context, a d.Actor) ([]d.Policy, error) {
	if !a.AllowedSomewhere(d.ActPoliciesRead) {
		return nil, forbidden(a, d.ActPoliciesRead)
	}
	if !a.Can(d.ActPoliciesRead) {
		return nil, nil
	}
	var out []d.Policy
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.SelectorPolicies()
		return err
	})
	return out, err
}

// reapplyAll bumps every machine's state version and revokes grants their
// effective policy no longer covers.
func (s *Service) reapplyAll(tx *store.Tx, now time.Time, a d.Actor) error {
	ms, policies, err := machinesWithPolicies(tx)
	if err != nil {
		return err
	}
	for i := range ms {
		m, p := &ms[i], policies[i]
		if p == nil {
			p = &d.Policy{MachineID: m.ID}
		}
		version, err := tx.MachineBumpVersion(m.ID)
		if err != nil {
			return err
		}
		if err := s.revokeUncovered(tx, now, a, m, p, version); err != nil {
			return err
		}
	}
	return nil
}
