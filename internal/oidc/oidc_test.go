package oidc

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cfg, err := Config{Issuer: "https://idp.example.com", ClientID: "db"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	good := func() tokenClaims {
		return tokenClaims{Issuer: cfg.Issuer, Audience: []string{"db"}, Expiry: now.Add(time.Minute), Nonce: "n1",
			Claims: map[string]any{"email": "alice@example.com", "email_verified": true, "groups": []any{"ops", "dev", "ops", " ", 7}}}
	}
	tests := []struct {
		name   string
		change func(c *tokenClaims, cfg *Config)
		nonce  string
		want   d.Identity
		fails  bool
	}{
		{name: "valid", want: d.Identity{User: "alice@example.com", Groups: []string{"ops", "dev"}, Issuer: cfg.Issuer}},
		{name: "nonce matches", nonce: "n1", want: d.Identity{User: "alice@example.com", Groups: []string{"ops", "dev"}, Issuer: cfg.Issuer}},
		{name: "nonce differs", nonce: "n2", fails: true},
		{name: "issuer", change: func(c *tokenClaims, _ *Config) { c.Issuer = "https://idp.example.com/" }, fails: true},
		{name: "audience", change: func(c *tokenClaims, _ *Config) { c.Audience = []string{"other"} }, fails: true},
		{name: "azp of another client", change: func(c *tokenClaims, _ *Config) { c.Audience = []string{"db", "other"}; c.AuthorizedParty = "other" }, fails: true},
		{name: "expires now", change: func(c *tokenClaims, _ *Config) { c.Expiry = now }, fails: true},
		{name: "no expiry", change: func(c *tokenClaims, _ *Config) { c.Expiry = time.Time{} }, fails: true},
		{name: "nbf within leeway", change: func(c *tokenClaims, _ *Config) { c.NotBefore = now.Add(time.Minute) },
			want: d.Identity{User: "alice@example.com", Groups: []string{"ops", "dev"}, Issuer: cfg.Issuer}},
		{name: "user with a space", change: func(c *tokenClaims, _ *Config) { c.Claims["email"] = "alice smith" }, fails: true},
		{name: "email_verified missing", change: func(c *tokenClaims, _ *Config) { delete(c.Claims, "email_verified") }, fails: true},
		{name: "email_verified false", change: func(c *tokenClaims, _ *Config) { c.Claims["email_verified"] = false }, fails: true},
		{name: "user claim not a string", change: func(c *tokenClaims, _ *Config) { c.Claims["email"] = 42 }, fails: true},
		{name: "other user claim, no groups", change: func(c *tokenClaims, cfg *Config) {
			cfg.UserClaim, cfg.GroupsClaim = "preferred_username", "roles"
			c.Claims["preferred_username"] = "alice"
			c.Claims["email_verified"] = false // only matters for the email claim
		}, want: d.Identity{User: "alice", Issuer: cfg.Issuer}},
		{name: "nested groups claim", change: func(c *tokenClaims, cfg *Config) {
			cfg.GroupsClaim = "realm_access.roles"
			c.Claims["realm_access"] = map[string]any{"roles": []any{"admins"}}
		}, want: d.Identity{User: "alice@example.com", Groups: []string{"admins"}, Issuer: cfg.Issuer}},
		{name: "one group as a string", change: func(c *tokenClaims, _ *Config) { c.Claims["groups"] = "ops" },
			want: d.Identity{User: "alice@example.com", Groups: []string{"ops"}, Issuer: cfg.Issuer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cf := good(), cfg
			if tt.change != nil {
				tt.change(&c, &cf)
			}
			got, err := check(c, cf, tt.nonce, now)
			if tt.fails {
				if d.ErrorKind(err) != d.Unauthenticated {
					t.Fatalf("check = %+v, %v; want Unauthenticated", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := Config{Issuer: "https://idp.example.com", ClientID: "db", Scopes: []string{"email"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Issuer: "https://idp.example.com", ClientID: "db", UserClaim: "email", GroupsClaim: "groups", Scopes: []string{"openid", "email"}, SessionTTL: 8 * time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []Config{
		{Issuer: "idp.example.com", ClientID: "db"},
		{Issuer: "https://idp.example.com"},
		{Issuer: "https://idp.example.com", ClientID: "db", SessionTTL: 25 * time.Hour},
	} {
		if _, err := bad.withDefaults(); d.ErrorKind(err) != d.Invalid {
			t.Errorf("%+v: err = %v, want Invalid", bad, err)
		}
	}
}
