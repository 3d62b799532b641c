package control

import (
	"context"
	"net/netip"
	"strings"
	"time"
	"unicode"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// validTokenName reports whether s is 1–64 runes, each a letter or digit
// (Unicode L or N) or, after the first, one of " ._@-". It matches
// ^[\pL\pN][\pL\pN ._@-]{0,63}$ exactly (invalid UTF-8 is a bad rune, as
// in regexp), written by hand because that pattern costs 2.5 MB at package
// init in every binary that links control, the CLI included.
func validTokenName(s string) bool {
	n := 0
	for _, r := range s {
		ok := unicode.IsLetter(r) || unicode.IsNumber(r)
		if n > 0 {
			ok = ok || strings.ContainsRune(" ._@-", r)
		}
		if !ok {
			return false
		}
		if n++; n > 64 {
			return false
		}
	}
	return n >= 1
}

// Bootstrap creates the first admin token when no token exists yet, and
// returns it (shown once; the caller writes it to DIR/admin.token). It
// returns "" when tokens already exist.
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	var full string
	err := s.update(ctx, func(tx *store.Tx, now time.Time) error {
		ts, err := tx.Tokens()
		if err != nil || len(ts) > 0 {
			return err
		}
		id := d.NewTokenID()
		var hash []byte
		full, hash = d.NewSecret(string(id))
		t := &d.Token{ID: id, Name: "admin", Role: d.RoleAdmin, Hash: hash, CreatedAt: now, CreatedBy: "system"}
		if err := tx.TokenCreate(t); err != nil {
			return err
		}
		return s.audit(tx, now, d.SystemActor, d.EvTokenCreated, string(id), "bootstrap admin token", "", map[string]any{"name": t.Name, "role": t.Role})
	})
	return full, err
}

// Authenticate turns a bearer token into an Actor. Unknown, malformed,
// expired and revoked tokens all return the same Unauthenticated error, and
// the secret is compared in constant time.
func (s *Service) Authenticate(ctx context.Context, bearer string, source netip.Addr) (d.Actor, error) {
	unauth := &d.Error{Kind: d.Unauthenticated, Message: "invalid or expired token"}
	id, secret, ok := d.SplitSecret(bearer, d.TokenPrefix)
	if !ok {
		return d.Actor{}, unauth
	}
	var t *d.Token
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		t, err = tx.Token(d.TokenID(id))
		return err
	})
	if d.ErrorKind(err) == d.NotFound {
		d.SecretMatches(secret, make([]byte, 32)) // same work as a hit
		return d.Actor{}, unauth
	}
	if err != nil {
		return d.Actor{}, err
	}
	if !d.SecretMatches(secret, t.Hash) || !t.Usable(s.now()) {
		return d.Actor{}, unauth
	}
	a := d.Actor{Kind: d.ActorToken, ID: string(t.ID), Name: t.Name, Role: t.Role, Owner: t.Owner, Source: source}
	if t.Kind == d.TokenSession {
		a = d.Actor{Kind: d.ActorUser, ID: t.User, Name: t.User, Groups: t.Groups, Source: source}
	} else if t.Role != "" {
		a.RoleGrants = append(a.RoleGrants, d.RoleGrant{Role: t.Role, Actions: t.Role.Actions(), Scope: t.Scope})
	}
	err = s.db.Read(ctx, func(tx *store.Tx) error {
		grants, err := roleGrantsOf(tx, a.Subjects())
		a.RoleGrants = append(a.RoleGrants, grants...)
		return err
	})
	if err != nil {
		return d.Actor{}, err
	}
	return a, nil
}

// TokenCreate creates an API token and returns the full secret, shown once.
// Needs admin. Invalid for a bad name, role, TTL or owner: the role is
// required (RoleNone makes a token with no role of its own, for role
// bindings on token:<ID>); a TTL, when given, is from MinTokenTTL to
// MaxTokenTTL (none: the token never expires); the owner, the person the
// token is for, defaults to the creator's own person (Actor.Person).
func (s *Service) TokenCreate(ctx context.Context, a d.Actor, in d.TokenInput) (string, *d.Token, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return "", nil, err
	}
	if !validTokenName(in.Name) {
		return "", nil, d.FieldErrorf("name", "name must be 1–64 letters, digits, spaces or ._@-")
	}
	role := in.Role
	switch {
	case role == "":
		return "", nil, d.FieldErrorf("role", "role is required: one of %s, or %s for a token that has only what bindings on token:<ID> give it", roleList(), d.RoleNone)
	case role == d.RoleNone:
		role = ""
	case !role.Valid():
		// Custom roles cannot be a token's own role (its actions could
		// change under it); bind them to token:<ID> instead.
		return "", nil, d.FieldErrorf("role", "unknown role %s (built-in roles: %s, or %s); bind custom roles with `drawbridge binding create`", d.Excerpt(string(in.Role)), roleList(), d.RoleNone)
	}
	var ttl time.Duration
	if in.TTL != "" { // absent: the token never expires
		v, err := d.ParseDuration(in.TTL)
		if err != nil {
			return "", nil, d.FieldErrorf("ttl", "%v", err)
		}
		if ttl = v.Std(); ttl < d.MinTokenTTL || ttl > d.MaxTokenTTL {
			return "", nil, d.FieldErrorf("ttl", "ttl must be from %s to 366 days; leave it out for a token that never expires", d.Duration(d.MinTokenTTL))
		}
	}
	owner := a.Person()
	if in.Owner != "" {
		var err error
		if owner, err = d.ParseOwner(in.Owner); err != nil {
			return "", nil, err
		}
	}
	now := s.now()
	id := d.NewTokenID()
	full, hash := d.NewSecret(string(id))
	t := &d.Token{ID: id, Kind: d.TokenAPI, Name: in.Name, Role: role, Owner: owner, Hash: hash, CreatedAt: now, CreatedBy: a.Subject()}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	err := s.update(ctx, func(tx *store.Tx, _ time.Time) error {
		scope, err := resolveScope(tx, in.Scope)
		if err != nil {
			return err
		}
		t.Scope = scope
		if err := tx.TokenCreate(t); err != nil {
			return err
		}
		return s.audit(tx, now, a, d.EvTokenCreated, string(id), "", "", map[string]any{"name": t.Name, "role": t.Role, "scope": t.Scope, "expires_at": t.ExpiresAt, "owner": t.Owner})
	})
	if err != nil {
		return "", nil, err
	}
	return full, t, nil
}

// personOf is what a record stores as the person behind a: empty when that
// is a's own subject (a signed-in user, a token with no owner).
func personOf(a d.Actor) string {
	if p := a.Person(); p != a.Subject() {
		return p
	}
	return ""
}

// Tokens lists API tokens (never their secrets). Needs admin.
func (s *Service) Tokens(ctx context.Context, a d.Actor) ([]d.Token, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	var ts []d.Token
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		ts, err = tx.Tokens()
		return err
	})
	return ts, err
}

// TokenRevoke revokes an API token at once. The requests made with it stay
// open until their end unless revokeGrants is set, in which case they are
// revoked in the same transaction; either way the answer lists them.
// Revoking a revoked token again is a Conflict, except with revokeGrants
// (ending what it left open). Needs admin.
func (s *Service) TokenRevoke(ctx context.Context, a d.Actor, id d.TokenID, revokeGrants bool) (*d.Revoked, error) {
	if err := s.require(a, d.ActAdmin); err != nil {
		return nil, err
	}
	if !d.ValidID(string(id), d.TokenPrefix) {
		return nil, d.FieldErrorf("id", "malformed token ID")
	}
	return s.revokeAccess(ctx, a, func(tx *store.Tx, now time.Time) (string, error) {
		err := tx.TokenRevoke(id, now)
		if d.ErrorKind(err) == d.Conflict && revokeGrants {
			err = nil // revoked before: now end what it left open
		}
		if err != nil {
			return "", err
		}
		return "token:" + string(id), nil
	}, d.EvTokenRevoked, string(id), "token "+string(id)+" revoked by "+a.Name, revokeGrants)
}

// revokeAccess takes a subject's access away with take (which returns the
// subject) and, in the same transaction, lists or (with revokeGrants) ends
// the subject's open requests, and audits action on target.
func (s *Service) revokeAccess(ctx context.Context, a d.Actor, take func(tx *store.Tx, now time.Time) (string, error), action, target, reason string, revokeGrants bool) (*d.Revoked, error) {
	var out *d.Revoked
	err := s.updateRevocation(ctx, func(tx *store.Tx, now time.Time) error {
		subject, err := take(tx, now)
		if err != nil {
			return err
		}
		out = &d.Revoked{RevokedRequests: []d.RequestID{}, OpenRequests: []d.RequestID{}}
		if strings.HasPrefix(subject, "group:") {
			if revokeGrants {
				return d.FieldErrorf("revoke_grants", "Drawbridge does not know who is in %s: end each person's requests instead", subject)
			}
		} else {
			ids, err := s.endRequestsOf(tx, now, a, subject, reason, revokeGrants)
			if err != nil {
				return err
			}
			if revokeGrants {
				out.RevokedRequests = ids
			} else {
				out.OpenRequests = ids
			}
		}
		return s.audit(tx, now, a, action, target, "", "", map[string]any{"subject": subject, "revoked_requests": len(out.RevokedRequests)})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// optionalDuration parses an optional duration field; "" is zero.
func optionalDuration(s, field string) (d.Duration, error) {
	if s == "" {
		return 0, nil
	}
	v, err := d.ParseDuration(s)
	if err != nil {
		return 0, d.FieldErrorf(field, "%v", err)
	}
	return v, nil
}
