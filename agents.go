package drawbridge

import (
	"time"
)

// EnrollInput is what an agent sends to enroll.
type EnrollInput struct {
	JoinToken string            `json:"join_token"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	Inventory Inventory         `json:"inventory"`
	CSR       string            `json:"csr"` // PEM; the key never leaves the host
}

// Enrollment is what an agent receives: its identity and certificate.
type Enrollment struct {
	MachineID   MachineID `json:"machine_id"`
	Name        string    `json:"name"`
	Certificate string    `json:"certificate"` // PEM client certificate
	NotAfter    time.Time `json:"not_after"`
	CA          string    `json:"ca"` // PEM CA certificate
}

// AckInput is an agent's report after applying a state version.
type AckInput struct {
	Version    int64      `json:"version"`
	Error      string     `json:"error,omitempty"`      // empty: applied
	Terminated []TargetID `json:"terminated,omitempty"` // revoked targets whose flows were cut
	ApplyTime  Duration   `json:"apply_time,omitzero"`  // time the agent spent in the kernel batch
	Clock      *Clock     `json:"clock,omitempty"`      // the agent's clock against the server's, once measured
}
