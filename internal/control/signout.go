package control

import (
	"context"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// SessionEnd signs out: it revokes the session token whose full secret is
// presented (the caller proved possession by presenting it). API tokens are
// not ended this way (Invalid): an admin revokes them. An unknown, expired or
// already revoked secret is Unauthenticated, as in Authenticate.
func (s *Service) SessionEnd(ctx context.Context, secret string, a d.Actor) error {
	unauth := &d.Error{Kind: d.Unauthenticated, Message: "invalid or expired token"}
	id, sec, ok := d.SplitSecret(secret, d.TokenPrefix)
	if !ok {
		return unauth
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		t, err := tx.Token(d.TokenID(id))
		if d.ErrorKind(err) == d.NotFound {
			d.SecretMatches(sec, make([]byte, 32)) // same work as a hit
			return unauth
		}
		if err != nil {
			return err
		}
		now := s.now()
		if !d.SecretMatches(sec, t.Hash) || !t.Usable(now) {
			return unauth
		}
		if t.Kind != d.TokenSession {
			return &d.Error{Kind: d.Invalid, Message: "this is an API token, not a sign-in session; an admin revokes it with `drawbridge token revoke`"}
		}
		if err := tx.TokenRevoke(t.ID, now); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvTokenRevoked, string(t.ID), "signed out", "", map[string]any{"kind": t.Kind})
	})
}
