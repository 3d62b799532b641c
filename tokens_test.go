package drawbridge_test

import (
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

func TestSecretRoundTrip(t *testing.T) {
	id := string(d.NewTokenID())
	full, hash := d.NewSecret(id)
	gotID, secret, ok := d.SplitSecret(full, d.TokenPrefix)
	if !ok {
		t.Fatalf("SplitSecret(%q) failed", full)
	}
	if gotID != id {
		t.Errorf("SplitSecret ID = %q, want %q", gotID, id)
	}
	if !d.SecretMatches(secret, hash) {
		t.Error("SecretMatches(secret, hash) = false, want true")
	}
	if d.SecretMatches(secret+"x", hash) {
		t.Error("SecretMatches(other secret, hash) = true, want false")
	}
	if d.SecretMatches(secret, nil) {
		t.Error("SecretMatches(secret, nil) = true, want false")
	}
	// Two secrets for the same ID differ.
	full2, hash2 := d.NewSecret(id)
	if full2 == full || string(hash2) == string(hash) {
		t.Error("NewSecret returned the same secret twice")
	}
}

func TestSplitSecret(t *testing.T) {
	secret := strings.Repeat("s", 40)
	tests := []struct {
		name       string
		in         string
		prefix     string
		wantID     string
		wantSecret string
		ok         bool
	}{
		{"valid", "tok_abcdefgh." + secret, d.TokenPrefix, "tok_abcdefgh", secret, true},
		{"surrounding space", " tok_abcdefgh." + secret + "\n", d.TokenPrefix, "tok_abcdefgh", secret, true},
		{"join token", "jtk_abcdefgh12345678." + secret, d.JoinTokenPrefix, "jtk_abcdefgh12345678", secret, true},
		{"shortest secret", "tok_abcdefgh." + secret[:20], d.TokenPrefix, "tok_abcdefgh", secret[:20], true},
		{"longest secret", "tok_abcdefgh." + strings.Repeat("s", 128), d.TokenPrefix, "tok_abcdefgh", strings.Repeat("s", 128), true},
		{"wrong prefix", "jtk_abcdefgh." + secret, d.TokenPrefix, "", "", false},
		{"no dot", "tok_abcdefgh" + secret, d.TokenPrefix, "", "", false},
		{"empty", "", d.TokenPrefix, "", "", false},
		{"short id", "tok_abc." + secret, d.TokenPrefix, "", "", false},
		{"upper-case id", "tok_ABCDEFGH." + secret, d.TokenPrefix, "", "", false},
		{"secret too short", "tok_abcdefgh." + secret[:19], d.TokenPrefix, "", "", false},
		{"secret too long", "tok_abcdefgh." + strings.Repeat("s", 129), d.TokenPrefix, "", "", false},
		{"empty secret", "tok_abcdefgh.", d.TokenPrefix, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, sec, ok := d.SplitSecret(tt.in, tt.prefix)
			if ok != tt.ok || id != tt.wantID || sec != tt.wantSecret {
				t.Errorf("SplitSecret(%q) = %q, %q, %v; want %q, %q, %v", tt.in, id, sec, ok, tt.wantID, tt.wantSecret, tt.ok)
			}
		})
	}
}

func TestTokenUsable(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		tok  d.Token
		want bool
	}{
		{"no expiry", d.Token{}, true},
		{"not yet expired", d.Token{ExpiresAt: now.Add(time.Nanosecond)}, true},
		{"expires now", d.Token{ExpiresAt: now}, false},
		{"expired", d.Token{ExpiresAt: now.Add(-time.Hour)}, false},
		{"revoked", d.Token{RevokedAt: now.Add(-time.Hour)}, false},
		{"revoked in the future still revoked", d.Token{RevokedAt: now.Add(time.Hour)}, false},
		{"revoked and not expired", d.Token{RevokedAt: now, ExpiresAt: now.Add(time.Hour)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tok.Usable(now); got != tt.want {
				t.Errorf("Usable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJoinTokenUsable(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		j    d.JoinToken
		want bool
	}{
		{"fresh", d.JoinToken{ExpiresAt: now.Add(time.Hour), MaxUses: 1}, true},
		{"one use left", d.JoinToken{ExpiresAt: now.Add(time.Hour), MaxUses: 3, Uses: 2}, true},
		{"used up", d.JoinToken{ExpiresAt: now.Add(time.Hour), MaxUses: 3, Uses: 3}, false},
		{"expires now", d.JoinToken{ExpiresAt: now, MaxUses: 1}, false},
		{"expired", d.JoinToken{ExpiresAt: now.Add(-time.Second), MaxUses: 1}, false},
		{"no expiry is not forever", d.JoinToken{MaxUses: 1}, false},
		{"no uses", d.JoinToken{ExpiresAt: now.Add(time.Hour)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.j.Usable(now); got != tt.want {
				t.Errorf("Usable = %v, want %v", got, tt.want)
			}
		})
	}
}
