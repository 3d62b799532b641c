package drawbridge

import "time"

// Event is one audit record: who did what to what, from where, when, with
// what result and why. Events are written in the same transaction as the
// change they record, and are never updated or deleted through the API.
type Event struct {
	ID          EventID   `json:"id"`
	Time        time.Time `json:"time"`
	Actor       string    `json:"actor"`      // subject: "token:tok_…", "agent:mch_…", "system"
	ActorName   string    `json:"actor_name"` // display name
	ActorSource string    `json:"actor_source,omitempty"`
	Action      string    `json:"action"`           // see the Ev* constants
	Target      string    `json:"target"`           // what was acted on: a machine, request or token ID
	Result      string    `json:"result"`           // "success" or "failure"
	Reason      string    `json:"reason,omitempty"` // justification, error, or why
	RequestID   RequestID `json:"request_id,omitempty"`
	Details     string    `json:"details,omitempty"` // JSON object with action-specific facts
	// PrevHash and Hash chain the log: Hash is SHA-256 over PrevHash and a
	// canonical encoding of every field above (lowercase hex; see
	// internal/audit). Set by the store when the event is appended.
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// Audit actions. The list only grows.
const (
	EvPolicySet          = "policy.set"
	EvPolicyEnabled      = "policy.enabled"
	EvPolicyDisabled     = "policy.disabled"
	EvPolicyDeleted      = "policy.deleted"
	EvRequestCreated     = "request.created"
	EvRequestApplied     = "request.applied"
	EvRequestExpired     = "request.expired"
	EvRequestRevoked     = "request.revoked"
	EvRequestFailed      = "request.failed"
	EvRequestTerminated  = "request.terminated"
	EvTokenCreated       = "token.created"
	EvTokenRevoked       = "token.revoked"
	EvJoinTokenCreated   = "jointoken.created"
	EvJoinTokenUsed      = "jointoken.used"
	EvJoinTokenRevoked   = "jointoken.revoked"
	EvMachineEnrolled    = "machine.enrolled"
	EvMachineRenewed     = "machine.certificate_renewed"
	EvMachineApplyFailed = "machine.apply_failed"
	EvMachineDeleted     = "machine.deleted"
	EvMachineRelabelled  = "machine.relabelled"
	EvSignIn             = "auth.signin"
	EvBindingCreated     = "binding.created"
	EvBindingDeleted     = "binding.deleted"
	EvRoleCreated        = "role.created"
	EvRoleDeleted        = "role.deleted"
	EvRequestApproved    = "request.approved"
	EvRequestDenied      = "request.denied"
	EvRequestExtended    = "request.extended"
	EvRequestDone        = "request.done"
	// Refused attempts by an authenticated caller, each in its own
	// transaction (the refused change was not written), and bounded per
	// caller: beyond a burst, refusals are counted and summed up in one
	// EvAccessSuppressed event.
	EvAccessDenied     = "access.denied"     // a 403: not allowed (self-approval included)
	EvRequestRefused   = "request.refused"   // a 400 or 413: invalid input
	EvAccessSuppressed = "access.suppressed" // "N more refused attempts suppressed"
)

// Results.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)
