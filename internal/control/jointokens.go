package control

import (
	"context"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// JoinTokens lists join tokens (never their secrets), newest first. Needs
// machines/enroll.
func (s *Service) JoinTokens(ctx context.Context, a d.Actor) ([]d.JoinToken, error) {
	if err := s.require(a, d.ActMachinesEnroll); err != nil {
		return nil, err
	}
	js := []d.JoinToken{}
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		all, err := tx.JoinTokens()
		js = append(js, all...)
		return err
	})
	return js, err
}

// JoinTokenRevoke ends a join token at once: no agent can enroll with it
// any more (machines that enrolled with it stay). Needs machines/enroll.
// NotFound for no such token, Conflict if it was expired or used up.
func (s *Service) JoinTokenRevoke(ctx context.Context, a d.Actor, id d.JoinTokenID) error {
	if err := s.require(a, d.ActMachinesEnroll); err != nil {
		return err
	}
	if !d.ValidID(string(id), d.JoinTokenPrefix) {
		return d.FieldErrorf("id", "malformed join token ID")
	}
	return s.update(ctx, func(tx *store.Tx, now time.Time) error {
		if err := tx.JoinTokenRevoke(id, now); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvJoinTokenRevoked, string(id), "", "", nil)
	})
}

// JoinTokenCreate creates a join token for agents and returns its full
// secret, shown once. Needs machines/enroll.
func (s *Service) JoinTokenCreate(ctx context.Context, a d.Actor, in d.JoinTokenInput) (string, *d.JoinToken, error) {
	if err := s.require(a, d.ActMachinesEnroll); err != nil {
		return "", nil, err
	}
	ttl, err := optionalDuration(in.TTL, "ttl")
	if err != nil {
		return "", nil, err
	}
	if in.TTL == "" { // only an absent TTL means the default; an explicit 0s is refused below
		ttl = d.Duration(time.Hour)
	}
	if ttl.Std() < time.Minute || ttl.Std() > 30*24*time.Hour {
		return "", nil, d.FieldErrorf("ttl", "ttl must be from 1m to 30 days")
	}
	if in.Uses == 0 {
		in.Uses = 1
	}
	if in.Uses < 1 || in.Uses > 100000 {
		return "", nil, d.FieldErrorf("uses", "uses must be from 1 to 100000")
	}
	if err := d.ValidateLabels(in.Labels); err != nil {
		return "", nil, err
	}
	now := s.now()
	id := d.NewJoinTokenID()
	full, hash := d.NewSecret(string(id))
	j := &d.JoinToken{ID: id, Hash: hash, CreatedAt: now, CreatedBy: a.Subject(), ExpiresAt: now.Add(ttl.Std()), MaxUses: in.Uses, Labels: in.Labels}
	err = s.update(ctx, func(tx *store.Tx, _ time.Time) error {
		if err := tx.JoinTokenCreate(j); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvJoinTokenCreated, string(id), "", "", map[string]any{"expires_at": j.ExpiresAt, "max_uses": j.MaxUses})
	})
	if err != nil {
		return "", nil, err
	}
	return full, j, nil
}
