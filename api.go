package drawbridge

import "time"

// The API's input and output shapes, shared by the server and the Go client.

// PolicyInput sets a machine's policy. Nil Enabled keeps the current value
// (true for a new policy); nil Rules keeps the current rules (Azure's
// defaults for a new policy).
//
// Nil Approval, Justification and Limits keep the current settings (the
// defaults for a new policy: automatic approval, optional justification,
// no limits). Selector and Priority are used only by the selector-policy
// route.
type PolicyInput struct {
	Selector      string             `json:"selector,omitempty"`
	Priority      *int               `json:"priority,omitempty"` // selector policies: nil keeps the current value (0 for a new policy)
	Enabled       *bool              `json:"enabled,omitempty"`
	Rules         []RuleInput        `json:"rules,omitempty"`
	Approval      *ApprovalInput     `json:"approval,omitempty"`
	Justification *JustificationRule `json:"justification,omitempty"`
	Limits        *Limits            `json:"limits,omitempty"`
}

// PolicyDeletion is what deleting a machine's own policy leaves: the policy
// that now governs the machine (a matching selector policy, or none) and the
// ways it is weaker than the deleted one.
type PolicyDeletion struct {
	Policy     *Policy     `json:"policy"`
	Weakenings []Weakening `json:"weakenings,omitempty"`
}

// ApprovalInput is an approval rule as the API receives it.
type ApprovalInput struct {
	Mode       ApprovalMode    `json:"mode"`
	Levels     []ApprovalLevel `json:"levels,omitempty"`
	PendingTTL string          `json:"pending_ttl,omitempty"` // absent: 1h; given: from 1m
	Extensions ApprovalMode    `json:"extensions,omitempty"`  // default manual
}

// DecisionInput approves or denies a request (or its pending extension).
type DecisionInput struct {
	Reason string `json:"reason,omitempty"` // required to deny
}

// ExtendInput asks for more time on an active request.
type ExtendInput struct {
	By     string `json:"by"` // e.g. 30m
	Reason string `json:"reason,omitempty"`
}

// RuleInput is a port rule as the API receives it. Only an absent field
// takes its default; a given duration must be at least 1s (so "0s" is an
// error, not the default or "off").
type RuleInput struct {
	Port           uint16   `json:"port"`
	Protocol       Protocol `json:"protocol,omitempty"`        // default tcp
	AllowedSources []string `json:"allowed_sources,omitempty"` // default ["*"]
	MaxDuration    string   `json:"max_duration,omitempty"`    // default 3h (capped by the server)
	IdleTimeout    string   `json:"idle_timeout,omitempty"`    // revoke a grant with no traffic this long; default none
}

// RequestInput is an access request as the API receives it.
type RequestInput struct {
	Targets       []MachineTargets `json:"targets"`
	Source        string           `json:"source,omitempty"`   // IP or CIDR; default: the caller's address
	Duration      string           `json:"duration,omitempty"` // ISO 8601 or Go style; default: 1h capped by the rules
	Justification string           `json:"justification,omitempty"`
}

// MachineTargets is one machine and the ports asked for on it.
type MachineTargets struct {
	Machine string       `json:"machine"` // name or ID
	Ports   []PortTarget `json:"ports"`
}

// PortTarget is one port asked for; Source overrides the request's.
type PortTarget struct {
	Port     uint16   `json:"port"`
	Protocol Protocol `json:"protocol,omitempty"`
	Source   string   `json:"source,omitempty"`
}

// RevokeInput ends a request early.
type RevokeInput struct {
	Terminate bool   `json:"terminate,omitempty"` // also cut established flows
	Reason    string `json:"reason,omitempty"`
}

// TokenInput describes a new API token.
type TokenInput struct {
	Name  string `json:"name"`
	Role  Role   `json:"role"`
	Scope string `json:"scope,omitempty"` // where the role applies: *, machine:<name or ID>, or a label selector; default *
	TTL   string `json:"ttl,omitempty"`   // absent: no expiry; else from MinTokenTTL to MaxTokenTTL
	Owner string `json:"owner,omitempty"` // the person it is for (user:<name> or a bare name); default: the creator
}

// Revoked is the answer to revoking a token or deleting a binding: the
// subject's requests that were ended with it (revoke_grants=true), and
// those still open.
type Revoked struct {
	RevokedRequests []RequestID `json:"revoked_requests"`
	OpenRequests    []RequestID `json:"open_requests"`
}

// JoinTokenInput describes a new agent join token.
type JoinTokenInput struct {
	TTL    string            `json:"ttl,omitempty"` // default 1h
	Uses   int               `json:"uses,omitzero"` // default 1
	Labels map[string]string `json:"labels,omitempty"`
}

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

// MachineView is a machine as people see it: its record, its JIT status
// (Configured / Not configured / Unsupported with the reason), its policy,
// and how many grants are open on it.
type MachineView struct {
	Machine
	Status       MachineStatus `json:"status"`
	StatusReason string        `json:"status_reason,omitempty"`
	Online       bool          `json:"online"`
	Policy       *Policy       `json:"policy,omitempty"`
	ActiveGrants int           `json:"active_grants"`
	ClockWarning string        `json:"clock_warning,omitempty"` // its agent's clock is off (see Clock.Skewed)
	// As Azure's Configured tab: approved requests created in the last 7
	// days, the latest grant confirmed in the kernel, and who asked for it.
	ApprovedLast7d int       `json:"approved_requests_7d"`
	LastAccess     time.Time `json:"last_access,omitzero"`
	LastUser       string    `json:"last_user,omitempty"`
}

// BindingInput binds a subject to a role at a scope.
type BindingInput struct {
	Subject string `json:"subject"` // user:<name>, group:<name> or token:<token ID>
	Role    Role   `json:"role"`
	Scope   string `json:"scope,omitempty"` // *, machine:<name or ID>, or a label selector such as env=prod; default *
}

// RoleInput defines a custom role (the server sets the creation fields).
type RoleInput struct {
	Name    Role     `json:"name"`
	Actions []Action `json:"actions"`
}

// LabelsInput changes a machine's labels: Set adds or replaces, Remove deletes.
type LabelsInput struct {
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// DryRunResult is what a request would open, without opening anything.
type DryRunResult struct {
	Targets       []Target     `json:"targets"`
	Duration      Duration     `json:"duration"`
	End           time.Time    `json:"end,omitzero"` // when it would close (automatic approval)
	NeedsApproval bool         `json:"needs_approval"`
	Approval      ApprovalRule `json:"approval"`
}
