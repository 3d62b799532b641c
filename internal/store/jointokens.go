package store

import (
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
)

const joinTokenCols = `id, hash, created_at, created_by, expires_at, max_uses, uses, labels`

func scanJoinToken(s scanner) (d.JoinToken, error) {
	var j d.JoinToken
	var created, expires int64
	var labels string
	if err := s.Scan(&j.ID, &j.Hash, &created, &j.CreatedBy, &expires, &j.MaxUses, &j.Uses, &labels); err != nil {
		return j, err
	}
	var err error
	if j.Labels, err = parseLabels(labels); err != nil {
		return j, err
	}
	j.CreatedAt, j.ExpiresAt = fromMicros(created), fromMicros(expires)
	return j, nil
}

// JoinTokenCreate stores a new join token. It returns Conflict if the ID
// exists.
func (tx *Tx) JoinTokenCreate(j *d.JoinToken) error {
	labels, err := labelsJSON(j.Labels)
	if err != nil {
		return fmt.Errorf("store: create join token: %w", err)
	}
	_, err = tx.exec(`INSERT INTO join_tokens (`+joinTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		string(j.ID), j.Hash, micros(j.CreatedAt), j.CreatedBy, micros(j.ExpiresAt), j.MaxUses, j.Uses, labels)
	return classify("create join token", err, fmt.Sprintf("join token %s already exists", j.ID))
}

// JoinToken returns the join token with the given ID, or NotFound.
func (tx *Tx) JoinToken(id d.JoinTokenID) (*d.JoinToken, error) {
	j, err := scanJoinToken(tx.queryRow(`SELECT `+joinTokenCols+` FROM join_tokens WHERE id = ?`, string(id)))
	if err != nil {
		return nil, rowErr("join token", err, notFound("join token %s not found", id))
	}
	return &j, nil
}

// JoinTokens returns every join token (never its secret), newest first.
func (tx *Tx) JoinTokens() ([]d.JoinToken, error) {
	rows, err := tx.query(`SELECT ` + joinTokenCols + ` FROM join_tokens ORDER BY created_at DESC, id`)
	return collect("join tokens", rows, err, scanJoinToken)
}

// JoinTokenRevoke ends a join token at now: it expires then, so no agent
// can enroll with it any more. NotFound if there is no such token,
// Conflict if it could not be used anyway (expired or used up).
func (tx *Tx) JoinTokenRevoke(id d.JoinTokenID, now time.Time) error {
	res, err := tx.exec(`UPDATE join_tokens SET expires_at = ? WHERE id = ? AND uses < max_uses AND expires_at > ?`, micros(now), string(id), micros(now))
	if err != nil {
		return classify("revoke join token", err, "")
	}
	if n, err := rowsAffected("revoke join token", res); n > 0 || err != nil {
		return err
	}
	if _, err := tx.JoinToken(id); err != nil {
		return err
	}
	return d.Errorf(d.Conflict, "join token %s is already expired or used up", id)
}

// JoinTokenUse counts one use of the join token, in a single conditional
// UPDATE: only while it has uses left and has not expired at now. So
// concurrent enrollments can never exceed its maximum. It returns Conflict
// ("join token is used up or expired") when the token cannot be used and
// NotFound when there is no such token.
func (tx *Tx) JoinTokenUse(id d.JoinTokenID, now time.Time) error {
	res, err := tx.exec(`UPDATE join_tokens SET uses = uses + 1 WHERE id = ? AND uses < max_uses AND expires_at > ?`, string(id), micros(now))
	if err != nil {
		return classify("use join token", err, "")
	}
	if n, err := rowsAffected("use join token", res); n > 0 || err != nil {
		return err
	}
	if _, err := tx.JoinToken(id); err != nil {
		return err
	}
	return d.Errorf(d.Conflict, "join token is used up or expired")
}
