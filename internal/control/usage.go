package control

import (
	"context"
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// ReportUsage records an agent's report of the traffic its grants carried
// (see drawbridge.UsageInput). An agent may report only targets on its own
// machine: a report naming any other (or unknown) target is Forbidden as a
// whole, so nothing of it is stored. Reports are idempotent; totals only
// grow. Invalid for a malformed report.
func (s *Service) ReportUsage(ctx context.Context, agent d.Actor, in d.UsageInput) error {
	if err := d.CheckUsageInput(in); err != nil {
		return err
	}
	if len(in.Targets) == 0 {
		return nil
	}
	id := d.MachineID(agent.ID)
	ids := make([]d.TargetID, len(in.Targets))
	for i, t := range in.Targets {
		ids[i] = t.Target
	}
	return s.update(ctx, func(tx *store.Tx, now time.Time) error {
		owners, err := tx.TargetMachines(ids)
		if err != nil {
			return err
		}
		for i, t := range in.Targets {
			if owners[t.Target] != id {
				return &d.Error{Kind: d.Forbidden, Field: fmt.Sprintf("targets[%d].target", i),
					Message: fmt.Sprintf("target %s is not on machine %s", t.Target, agent.Name)}
			}
		}
		have, err := tx.TargetUsage(ids)
		if err != nil {
			return err
		}
		for _, t := range in.Targets {
			u := have[t.Target]
			if u == nil {
				u = &d.Usage{}
				have[t.Target] = u
			}
			u.Merge(in.Epoch, t, now)
			if err := tx.TargetUsagePut(t.Target, u); err != nil {
				return err
			}
		}
		return nil
	})
}

// CloseIdle revokes, with reason "idle", every active grant whose policy
// rule has an idle timeout and that carried no new traffic for that long
// (drawbridge.IdleTargets). The agents remove the elements when they hear of
// it; established connections stay, as with any revoke. It returns how many
// targets it closed.
func (s *Service) CloseIdle(ctx context.Context) (int, error) {
	return s.sweep(ctx, func(tx *store.Tx, now time.Time, out *swept) error {
		_, policies, err := machinesWithPolicies(tx)
		if err != nil {
			return err
		}
		for _, p := range policies {
			if p == nil || !p.HasIdleTimeout() {
				continue
			}
			ts, err := tx.TargetsByMachine(p.MachineID, d.StatusActive)
			if err != nil {
				return err
			}
			if err := tx.AttachUsage(ts); err != nil {
				return err
			}
			idle := d.IdleTargets(p, ts, now)
			if len(idle) == 0 {
				continue
			}
			version, err := tx.MachineBumpVersion(p.MachineID)
			if err != nil {
				return err
			}
			reqs := map[d.RequestID]bool{}
			for _, k := range idle {
				t := &ts[k]
				rule, _ := p.Rule(t.Port, t.Protocol)
				since := t.IdleSince()
				t.Revoke(d.ReasonIdle, false)
				t.Version = version
				if err := tx.TargetUpdate(t); err != nil {
					return err
				}
				details := usageDetails(t)
				details["idle_timeout"] = rule.IdleTimeout
				details["idle_since"] = since
				reason := fmt.Sprintf("idle: no traffic for %s; %s", rule.IdleTimeout, t.Usage.Summary())
				if err := s.audit(tx, now, d.SystemActor, d.EvRequestRevoked, string(t.ID), reason, t.RequestID, details); err != nil {
					return err
				}
				reqs[t.RequestID] = true
				out.n++
			}
			if err := refreshRequests(tx, reqs); err != nil {
				return err
			}
		}
		return nil
	})
}

// RunIdleClose calls CloseIdle every interval until ctx ends.
func (s *Service) RunIdleClose(ctx context.Context, interval time.Duration) {
	s.every(ctx, interval, map[string]func(context.Context) (int, error){"close idle grants": s.CloseIdle})
}

// usageDetails are the audit details of a target that ends: where it was
// and whether it was used.
func usageDetails(t *d.Target) map[string]any {
	m := map[string]any{"machine": t.MachineName, "port": t.Port, "protocol": t.Protocol, "source": t.Source}
	for k, v := range t.Usage.Details() {
		m[k] = v
	}
	m["usage"] = t.Usage.Summary()
	return m
}
