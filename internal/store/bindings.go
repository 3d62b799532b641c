package store

import (
	"encoding/json"
	"fmt"
	"strings"

	d "github.com/drawbridge/drawbridge"
)

const bindingCols = `id, subject, role, scope, created_at, created_by`

func scanBinding(s scanner) (d.Binding, error) {
	var b d.Binding
	var created int64
	if err := s.Scan(&b.ID, &b.Subject, &b.Role, &b.Scope, &created, &b.CreatedBy); err != nil {
		return b, err
	}
	b.CreatedAt = fromMicros(created)
	return b, nil
}

// BindingCreate stores a role binding. Conflict if the same subject, role
// and scope are bound already.
func (tx *Tx) BindingCreate(b *d.Binding) error {
	_, err := tx.exec(`INSERT INTO bindings (`+bindingCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		b.ID, b.Subject, string(b.Role), string(b.Scope), micros(b.CreatedAt), b.CreatedBy)
	return classify("create binding", err, fmt.Sprintf("%s already has role %s at scope %s", b.Subject, b.Role, b.Scope))
}

// Bindings lists role bindings, for the given subjects only when any are
// given, ordered by subject, role and scope.
func (tx *Tx) Bindings(subjects ...string) ([]d.Binding, error) {
	q := `SELECT ` + bindingCols + ` FROM bindings`
	args := make([]any, len(subjects))
	if len(subjects) > 0 {
		q += ` WHERE subject IN (?` + strings.Repeat(`, ?`, len(subjects)-1) + `)`
		for i, s := range subjects {
			args[i] = s
		}
	}
	rows, err := tx.query(q+` ORDER BY subject, role, scope`, args...)
	return collect("bindings", rows, err, scanBinding)
}

// Binding returns one role binding, or NotFound.
func (tx *Tx) Binding(id string) (*d.Binding, error) {
	b, err := scanBinding(tx.queryRow(`SELECT `+bindingCols+` FROM bindings WHERE id = ?`, id))
	if err != nil {
		return nil, rowErr("binding", err, notFound("binding %s not found", id))
	}
	return &b, nil
}

// BindingDelete removes a role binding. NotFound if there is none.
func (tx *Tx) BindingDelete(id string) error {
	res, err := tx.exec(`DELETE FROM bindings WHERE id = ?`, id)
	if err != nil {
		return classify("delete binding", err, "")
	}
	if n, err := rowsAffected("delete binding", res); err != nil || n > 0 {
		return err
	}
	return notFound("binding %s not found", id)
}

const roleCols = `name, actions, created_at, created_by`

func scanRole(s scanner) (d.CustomRole, error) {
	var r d.CustomRole
	var actions string
	var created int64
	if err := s.Scan(&r.Name, &actions, &created, &r.CreatedBy); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(actions), &r.Actions); err != nil {
		return r, fmt.Errorf("role actions: %w", err)
	}
	r.CreatedAt = fromMicros(created)
	return r, nil
}

// RoleCreate stores a custom role. Conflict if the name is taken.
func (tx *Tx) RoleCreate(r *d.CustomRole) error {
	actions, err := toJSON(r.Actions)
	if err != nil {
		return fmt.Errorf("store: create role: %w", err)
	}
	_, err = tx.exec(`INSERT INTO roles (`+roleCols+`) VALUES (?, ?, ?, ?)`, string(r.Name), actions, micros(r.CreatedAt), r.CreatedBy)
	return classify("create role", err, fmt.Sprintf("role %s already exists", r.Name))
}

// Roles lists custom roles by name.
func (tx *Tx) Roles() ([]d.CustomRole, error) {
	rows, err := tx.query(`SELECT ` + roleCols + ` FROM roles ORDER BY name`)
	return collect("roles", rows, err, scanRole)
}

// RoleDelete removes a custom role. NotFound if there is none; Conflict
// while bindings use it.
func (tx *Tx) RoleDelete(name d.Role) error {
	var n int
	if err := tx.queryRow(`SELECT COUNT(*) FROM bindings WHERE role = ?`, string(name)).Scan(&n); err != nil {
		return classify("delete role", err, "")
	}
	if n > 0 {
		return d.Errorf(d.Conflict, "role %s is used by %d binding(s); delete them first", name, n)
	}
	res, err := tx.exec(`DELETE FROM roles WHERE name = ?`, string(name))
	if err != nil {
		return classify("delete role", err, "")
	}
	if n, err := rowsAffected("delete role", res); err != nil || n > 0 {
		return err
	}
	return notFound("role %s not found", name)
}
