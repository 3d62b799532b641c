package drawbridge

import (
	"time"
)

// JoinToken lets agents enroll. Only its hash is stored.
type JoinToken struct {
	ID        JoinTokenID       `json:"id"`
	Hash      []byte            `json:"-"`
	CreatedAt time.Time         `json:"created_at"`
	CreatedBy string            `json:"created_by"`
	ExpiresAt time.Time         `json:"expires_at"`
	MaxUses   int               `json:"max_uses"`
	Uses      int               `json:"uses"`
	Labels    map[string]string `json:"labels,omitempty"` // given to machines that enroll with it
}

// Usable reports whether the join token may enroll one more machine at now.
func (j *JoinToken) Usable(now time.Time) bool {
	return now.Before(j.ExpiresAt) && j.Uses < j.MaxUses
}

// JoinTokenInput describes a new agent join token.
type JoinTokenInput struct {
	TTL    string            `json:"ttl,omitempty"` // default 1h
	Uses   int               `json:"uses,omitzero"` // default 1
	Labels map[string]string `json:"labels,omitempty"`
}
