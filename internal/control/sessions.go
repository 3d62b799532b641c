package control

import (
	"context"
	"fmt"
	"slices"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// SessionCreate exchanges a verified identity for a short-lived session
// token (the secret is returned once). The user must hold at least one role
// binding, directly or through a group: an unknown user is Forbidden and the
// refusal is audited. ttl bounds the session (1m–24h).
func (s *Service) SessionCreate(ctx context.Context, ident d.Identity, source string, ttl time.Duration) (string, *d.Token, error) {
	if ident.User == "" || d.CheckText("user", ident.User, 256) != nil {
		return "", nil, &d.Error{Kind: d.Unauthenticated, Message: "the identity token names no usable user"}
	}
	if ttl < time.Minute || ttl > 24*time.Hour {
		return "", nil, d.FieldErrorf("ttl", "session lifetime must be from 1m to 24h")
	}
	// A group name that is not clean text can match no binding: drop it.
	ident.Groups = slices.DeleteFunc(slices.Clone(ident.Groups), func(g string) bool { return d.CheckText("group", g, 256) != nil })
	if len(ident.Groups) > 256 {
		ident.Groups = ident.Groups[:256]
	}
	actor := d.Actor{Kind: d.ActorUser, ID: ident.User, Name: ident.User, Groups: ident.Groups}
	now := s.now()
	id := d.NewTokenID()
	full, hash := d.NewSecret(string(id))
	t := &d.Token{ID: id, Kind: d.TokenSession, Name: "session " + ident.User, User: ident.User, Groups: ident.Groups,
		Hash: hash, CreatedAt: now, CreatedBy: actor.Subject(), ExpiresAt: now.Add(ttl)}
	var unknown bool
	err := s.update(ctx, func(tx *store.Tx, _ time.Time) error {
		grants, err := roleGrantsOf(tx, actor.Subjects())
		if err != nil {
			return err
		}
		if unknown = len(grants) == 0; unknown {
			return nil
		}
		if err := tx.TokenCreate(t); err != nil {
			return err
		}
		return s.audit(tx, now, actor, d.EvSignIn, actor.Subject(), "", "", map[string]any{"issuer": ident.Issuer, "groups": ident.Groups, "source": source, "expires_at": t.ExpiresAt})
	})
	if err != nil {
		return "", nil, err
	}
	if unknown {
		err := &d.Error{Kind: d.Forbidden, Message: fmt.Sprintf("unknown user %s: no role is bound to this user or its groups; ask an admin for a binding", ident.User)}
		s.AuditFailure(ctx, actor, d.EvSignIn, actor.Subject(), err)
		return "", nil, err
	}
	return full, t, nil
}

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
	return s.update(ctx, func(tx *store.Tx, now time.Time) error {
		t, err := tx.Token(d.TokenID(id))
		if d.ErrorKind(err) == d.NotFound {
			d.SecretMatches(sec, make([]byte, 32)) // same work as a hit
			return unauth
		}
		if err != nil {
			return err
		}
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
