package store

import (
	"encoding/json"
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
)

const tokenCols = `id, name, role, hash, created_at, created_by, expires_at, revoked_at, kind, scope, user_name, groups, owner`

func scanToken(s scanner) (d.Token, error) {
	var t d.Token
	var created, expires, revoked int64
	var groups string
	if err := s.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &t.CreatedBy, &expires, &revoked, &t.Kind, &t.Scope, &t.User, &groups, &t.Owner); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(groups), &t.Groups); err != nil {
		return t, fmt.Errorf("token groups: %w", err)
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return t, nil
}

// TokenCreate stores a new API token or session. It returns Conflict if the
// ID exists. An empty Kind means api, an empty Scope "*".
func (tx *Tx) TokenCreate(t *d.Token) error {
	if t.Kind == "" {
		t.Kind = d.TokenAPI
	}
	if t.Scope == "" && t.Kind == d.TokenAPI {
		t.Scope = d.ScopeAll
	}
	groups, err := toJSON(t.Groups)
	if err != nil {
		return fmt.Errorf("store: create token: %w", err)
	}
	if t.Groups == nil {
		groups = "[]"
	}
	_, err = tx.exec(`INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(t.ID), t.Name, string(t.Role), t.Hash, micros(t.CreatedAt), t.CreatedBy, micros(t.ExpiresAt), micros(t.RevokedAt),
		string(t.Kind), string(t.Scope), t.User, groups, t.Owner)
	return classify("create token", err, fmt.Sprintf("token %s already exists", t.ID))
}

// Token returns the API token with the given ID, or NotFound.
func (tx *Tx) Token(id d.TokenID) (*d.Token, error) {
	t, err := scanToken(tx.queryRow(`SELECT `+tokenCols+` FROM tokens WHERE id = ?`, string(id)))
	if err != nil {
		return nil, rowErr("token", err, notFound("token %s not found", id))
	}
	return &t, nil
}

// Tokens returns all API tokens (not sessions), revoked and expired ones included, oldest
// first.
func (tx *Tx) Tokens() ([]d.Token, error) {
	rows, err := tx.query(`SELECT ` + tokenCols + ` FROM tokens WHERE kind = 'api' ORDER BY created_at, id`)
	return collect("tokens", rows, err, scanToken)
}

// TokenRevoke marks the API token revoked at at. It returns NotFound if there
// is no such token and Conflict if it is already revoked (the first
// revocation time stays).
func (tx *Tx) TokenRevoke(id d.TokenID, at time.Time) error {
	res, err := tx.exec(`UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, micros(at), string(id))
	if err != nil {
		return classify("revoke token", err, "")
	}
	if n, err := rowsAffected("revoke token", res); n > 0 || err != nil {
		return err
	}
	if _, err := tx.Token(id); err != nil {
		return err
	}
	return d.Errorf(d.Conflict, "token %s is already revoked", id)
}
