package drawbridge

import (
	"crypto/rand"
	"strings"
)

// Typed identifiers. Each value carries a readable prefix ("mch_", "req_", …)
// so it reads in logs and cannot be confused with another kind.
type (
	MachineID   string // "mch_…"
	RequestID   string // "req_…"
	TargetID    string // "tgt_…": one machine × port of a request; a grant is an active target
	TokenID     string // "tok_…": an API token
	JoinTokenID string // "jtk_…": an agent join token
	EventID     int64  // audit event sequence number
)

// ID prefixes.
const (
	MachinePrefix   = "mch_"
	RequestPrefix   = "req_"
	TargetPrefix    = "tgt_"
	TokenPrefix     = "tok_"
	JoinTokenPrefix = "jtk_"
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// RandomString returns n characters from [a-z0-9] drawn from crypto/rand.
func RandomString(n int) string {
	// Rejection sampling keeps every character uniform: bytes at or above
	// 252 (the largest multiple of 36) are drawn again. Secrets use this too.
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		rand.Read(buf) // never fails (Go 1.24+ crashes the program instead)
		for _, c := range buf {
			if c < 252 && len(out) < n {
				out = append(out, idAlphabet[int(c)%len(idAlphabet)])
			}
		}
	}
	return string(out)
}

// NewMachineID returns a fresh random MachineID.
func NewMachineID() MachineID { return MachineID(MachinePrefix + RandomString(20)) }

// NewRequestID returns a fresh random RequestID.
func NewRequestID() RequestID { return RequestID(RequestPrefix + RandomString(20)) }

// NewTargetID returns a fresh random TargetID.
func NewTargetID() TargetID { return TargetID(TargetPrefix + RandomString(20)) }

// NewTokenID returns a fresh random TokenID.
func NewTokenID() TokenID { return TokenID(TokenPrefix + RandomString(16)) }

// NewJoinTokenID returns a fresh random JoinTokenID.
func NewJoinTokenID() JoinTokenID { return JoinTokenID(JoinTokenPrefix + RandomString(16)) }

// ValidID reports whether s has the given prefix followed by 8–40 characters
// of [a-z0-9]. It is used to reject malformed IDs before they reach storage.
func ValidID(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) < 8 || len(rest) > 40 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
