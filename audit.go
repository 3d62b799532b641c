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
