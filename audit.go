package drawbridge

import "time"

// The audit log's reports, shared by the server and the Go client. The chain
// itself (canonical encoding, hashing, verification) is in internal/audit.

// AuditHead is the newest event of the chain as the server saw it at Time,
// signed with the server's CA key so that it can be kept elsewhere (a SIEM,
// a ticket) and checked later: a chain rewritten after the head was exported
// no longer contains an event ID with hash Hash.
type AuditHead struct {
	ID        EventID   `json:"id"`              // 0: no event yet
	Hash      string    `json:"hash"`            // hex; the genesis or anchor hash when ID has no event
	Time      time.Time `json:"time"`            // when the server read and signed the head
	Signature string    `json:"signature"`       // base64 ASN.1 ECDSA over the head's signed form (internal/audit)
	CAPin     string    `json:"ca_pin,omitzero"` // pin of the CA that signed it
}

// AuditAnchor is where a pruned chain starts: the last pruned event's ID and
// hash, which the first remaining event names as its PrevHash.
type AuditAnchor struct {
	ID       EventID   `json:"id"`
	Hash     string    `json:"hash"`
	PrunedAt time.Time `json:"pruned_at"`
	Count    int64     `json:"count"`             // events pruned in this step
	Archive  string    `json:"archive,omitempty"` // file the pruned events were exported to
}

// Kinds of audit problems. The list only grows.
const (
	AuditAltered   = "altered"   // an event's fields no longer match its hash
	AuditDeleted   = "deleted"   // events are missing before the one named
	AuditReordered = "reordered" // events are not in the order they were written
	AuditBroken    = "broken"    // an event does not follow its predecessor (deleted, inserted or replaced)
	AuditTruncated = "truncated" // events at the end are missing
	AuditMismatch  = "mismatch"  // the chain does not contain an exported head
)

// AuditProblem is the first thing found wrong with the chain.
type AuditProblem struct {
	ID      EventID `json:"id"`   // the event where the problem shows
	Kind    string  `json:"kind"` // see the Audit* kinds
	Message string  `json:"message"`
}

// AuditReport is the outcome of walking the chain.
type AuditReport struct {
	OK      bool          `json:"ok"`
	Checked int64         `json:"checked"`          // events whose hashes were recomputed
	First   EventID       `json:"first,omitzero"`   // first event walked
	Last    EventID       `json:"last,omitzero"`    // last event walked
	Hash    string        `json:"hash,omitempty"`   // hash of Last: the verified head
	Anchor  *AuditAnchor  `json:"anchor,omitempty"` // where the chain starts after pruning
	Problem *AuditProblem `json:"problem,omitempty"`
	Notes   []string      `json:"notes,omitempty"`
}

// EvAuditPruned records a retention prune in the chain itself: the anchor
// (the last pruned event and its hash) and the archive file.
const EvAuditPruned = "audit.pruned"

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
