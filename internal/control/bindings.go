package control

import (
	"context"
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
	err := s.update(ctx, func(tx *store.Tx, now time.Time) error {
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
	err := s.update(ctx, func(tx *store.Tx, _ time.Time) error {
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
	return s.update(ctx, func(tx *store.Tx, now time.Time) error {
		if err := tx.RoleDelete(name); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvRoleDeleted, string(name), "", "", nil)
	})
}

// roleGrantsOf resolves the role bindings of subjects into grants. Bindings to
// a custom role that no longer exists grant nothing.
func roleGrantsOf(tx *store.Tx, subjects []string) ([]d.RoleGrant, error) {
	bs, err := tx.Bindings(subjects...)
	if err != nil || len(bs) == 0 {
		return nil, err
	}
	custom := map[d.Role][]d.Action{}
	if rs, err := tx.Roles(); err != nil {
		return nil, err
	} else {
		for _, r := range rs {
			custom[r.Name] = r.Actions
		}
	}
	var out []d.RoleGrant
	for _, b := range bs {
		acts := b.Role.Actions()
		if acts == nil {
			acts = custom[b.Role]
		}
		if acts != nil {
			out = append(out, d.RoleGrant{Role: b.Role, Actions: acts, Scope: b.Scope})
		}
	}
	return out, nil
}

func roleList() string {
	var s []string
	for _, r := range d.Roles() {
		s = append(s, string(r))
	}
	return strings.Join(s, ", ")
}
