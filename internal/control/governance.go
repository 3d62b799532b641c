package control

import (
	"context"
	"maps"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// resolveScope turns "machine:<name>" into "machine:<ID>" and checks the rest.
func resolveScope(tx *store.Tx, raw string) (d.Scope, error) {
	if ref, ok := strings.CutPrefix(strings.TrimSpace(raw), "machine:"); ok {
		m, err := machineRef(tx, ref)
		if err != nil {
			return "", d.WithField(err, "scope")
		}
		return d.Scope("machine:" + string(m.ID)), nil
	}
	return d.ParseScope(raw)
}

// roleExists reports whether r is built in or a custom role.
func roleExists(tx *store.Tx, r d.Role) (bool, error) {
	if r.Valid() {
		return true, nil
	}
	rs, err := tx.Roles()
	if err != nil {
		return false, err
	}
	for _, c := range rs {
		if c.Name == r {
			return true, nil
		}
	}
	return false, nil
}

// BindingCreate binds a subject to a role at a scope. Needs admin.
func (s *Service) BindingCreate(ctx context.Context, a d.Actor, in d.BindingInput) (*d.Binding, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	if err := d.ValidateSubject(in.Subject); err != nil {
		return nil, err
	}
	var out *d.Binding
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		ok, err := roleExists(tx, in.Role)
		if err != nil {
			return err
		}
		if !ok {
			return d.FieldErrorf("role", "unknown role %s", d.Excerpt(string(in.Role)))
		}
		scope, err := resolveScope(tx, in.Scope)
		if err != nil {
			return err
		}
		now := s.now()
		b := &d.Binding{ID: d.BindingPrefix + d.RandomString(16), Subject: in.Subject, Role: in.Role, Scope: scope, CreatedAt: now, CreatedBy: a.Subject()}
		if err := tx.BindingCreate(b); err != nil {
			return err
		}
		out = b
		return s.audit(tx, now, a, d.EvBindingCreated, b.ID, "", "", map[string]any{"subject": b.Subject, "role": b.Role, "scope": b.Scope})
	})
	return out, err
}

// Bindings lists role bindings. Needs admin.
func (s *Service) Bindings(ctx context.Context, a d.Actor) ([]d.Binding, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	var out []d.Binding
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.Bindings()
		return err
	})
	return out, err
}

// BindingDelete removes a role binding. The subject's open requests stay
// open until their end unless revokeGrants is set, in which case they are
// revoked in the same transaction (not possible for a group: its members
// are not known here); the answer lists them. Needs admin.
func (s *Service) BindingDelete(ctx context.Context, a d.Actor, id string, revokeGrants bool) (*d.Revoked, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	if !d.ValidID(id, d.BindingPrefix) {
		return nil, d.FieldErrorf("id", "malformed binding ID %s", d.Excerpt(id))
	}
	return s.revokeAccess(ctx, a, func(tx *store.Tx, _ time.Time) (string, error) {
		b, err := tx.Binding(id)
		if err != nil {
			return "", err
		}
		return b.Subject, tx.BindingDelete(id)
	}, d.EvBindingDeleted, id, "binding "+id+" deleted by "+a.Name, revokeGrants)
}

// RoleCreate defines a custom role. Needs admin.
func (s *Service) RoleCreate(ctx context.Context, a d.Actor, r d.CustomRole) (*d.CustomRole, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	if err := d.ValidateCustomRole(r); err != nil {
		return nil, err
	}
	now := s.now()
	r.CreatedAt, r.CreatedBy = now, a.Subject()
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.RoleCreate(&r); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvRoleCreated, string(r.Name), "", "", map[string]any{"actions": r.Actions})
	})
	return &r, err
}

// RoleInfo describes a role, built in or custom.
type RoleInfo struct {
	Name    d.Role     `json:"name"`
	BuiltIn bool       `json:"built_in"`
	Actions []d.Action `json:"actions"`
}

// Roles lists built-in and custom roles. Needs admin.
func (s *Service) Roles(ctx context.Context, a d.Actor) ([]RoleInfo, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	var out []RoleInfo
	for _, r := range d.Roles() {
		out = append(out, RoleInfo{Name: r, BuiltIn: true, Actions: r.Actions()})
	}
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		rs, err := tx.Roles()
		for _, r := range rs {
			out = append(out, RoleInfo{Name: r.Name, Actions: r.Actions})
		}
		return err
	})
	return out, err
}

// RoleDelete removes a custom role no binding uses. Needs admin.
func (s *Service) RoleDelete(ctx context.Context, a d.Actor, name d.Role) error {
	if err := s.require(a, d.ActAdmin); err != nil {
		return err
	}
	if name.Valid() {
		return d.FieldErrorf("name", "%s is a built-in role", name)
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.RoleDelete(name); err != nil {
			return err
		}
		return s.audit(tx, s.now(), a, d.EvRoleDeleted, string(name), "", "", nil)
	})
}

// MachineLabel edits a machine's labels. Needs admin (labels decide which
// scopes and selector policies cover a machine). The machine's desired
// state is recomputed, since its effective policy may change.
func (s *Service) MachineLabel(ctx context.Context, a d.Actor, ref string, in d.LabelsInput) (*d.Machine, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	var out *d.Machine
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
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
		now := s.now()
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
	if err == nil {
		s.hub.Publish(machineTopic(string(out.ID)))
	}
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
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		now := s.now()
		m, err := machineRef(tx, ref)
		if err != nil {
			return err
		}
		ts, err := tx.TargetsByMachine(m.ID, d.StatusPending, d.StatusApproved, d.StatusApplying, d.StatusActive)
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
