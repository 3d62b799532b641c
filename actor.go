package drawbridge

import (
	"net/netip"
)

// ActorKind says what kind of principal acted.
type ActorKind string

// Actor kinds.
const (
	ActorToken  ActorKind = "token"  // an API token (a person or automation)
	ActorUser   ActorKind = "user"   // a person signed in through OIDC
	ActorAgent  ActorKind = "agent"  // a machine's agent, by client certificate
	ActorSystem ActorKind = "system" // the server itself (expiry, policy effects)
	ActorAnon   ActorKind = "anonymous"
)

// Actor is an authenticated principal, taken from the request once and passed
// explicitly to every use case.
type Actor struct {
	Kind       ActorKind   `json:"kind"`
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Role       Role        `json:"role,omitempty"`   // the token's own role (display)
	Owner      string      `json:"owner,omitempty"`  // the person behind a token ("user:<name>"); see Person
	Source     netip.Addr  `json:"source,omitzero"`  // the caller's address as the server sees it
	Groups     []string    `json:"groups,omitempty"` // identity-provider groups (users)
	RoleGrants []RoleGrant `json:"grants,omitempty"` // every role binding that applies, resolved
}

// Subject identifies the actor in records: "token:tok_…", "agent:mch_…", "system".
func (a Actor) Subject() string {
	if a.Kind == ActorSystem {
		return "system"
	}
	return string(a.Kind) + ":" + a.ID
}

// Person identifies the person behind the actor, for the rules that count
// people rather than credentials (no self-approval, quorum of distinct
// approvers): a token's owner, a signed-in user's own subject, or — for a
// token with no owner — the token itself.
func (a Actor) Person() string {
	if a.Owner != "" {
		return a.Owner
	}
	return a.Subject()
}

// Subjects lists every binding subject the actor answers to: itself, and
// for users each of their groups.
func (a Actor) Subjects() []string {
	s := []string{a.Subject()}
	for _, g := range a.Groups {
		s = append(s, "group:"+g)
	}
	return s
}

// SystemActor is the server acting on its own (expiry, policy side effects).
var SystemActor = Actor{Kind: ActorSystem, ID: "system", Name: "system"}

// Role is a named set of actions.
type Role string

// Built-in roles.
const (
	RoleAdmin       Role = "admin"        // everything
	RolePolicyAdmin Role = "policy-admin" // manage policies and machines, revoke, read
	RoleRequester   Role = "requester"    // least privilege: ask for access, see policies and own requests
	RoleReader      Role = "reader"       // read policies, machines and requests
	RoleAuditor     Role = "auditor"      // read everything, including the audit log
	RoleApprover    Role = "approver"     // approve or deny requests in scope
)

// Action is a permission, modelled on Azure's action strings.
type Action string

// Actions.
const (
	ActPoliciesRead     Action = "policies/read"
	ActPoliciesWrite    Action = "policies/write"
	ActRequestsInitiate Action = "requests/initiate"
	ActRequestsRead     Action = "requests/read"   // all requests; a requester always reads its own
	ActRequestsRevoke   Action = "requests/revoke" // any request; a requester always revokes its own
	ActMachinesRead     Action = "machines/read"
	ActMachinesEnroll   Action = "machines/enroll"
	ActRequestsApprove  Action = "requests/approve" // approve or deny others' requests
	ActAuditRead        Action = "audit/read"       // the audit log and its reports
	ActAdmin            Action = "admin"            // tokens, everything
)

// Roles lists the built-in roles.
func Roles() []Role {
	return []Role{RoleAdmin, RolePolicyAdmin, RoleRequester, RoleReader, RoleAuditor, RoleApprover}
}

// AllActions lists every action.
func AllActions() []Action {
	return []Action{ActPoliciesRead, ActPoliciesWrite, ActRequestsInitiate, ActRequestsRead, ActRequestsRevoke,
		ActRequestsApprove, ActMachinesRead, ActMachinesEnroll, ActAuditRead, ActAdmin}
}

// Actions returns the actions role r grants (nil for an unknown role).
func (r Role) Actions() []Action {
	switch r {
	case RoleAdmin:
		return AllActions()
	case RolePolicyAdmin:
		return []Action{ActPoliciesRead, ActPoliciesWrite, ActRequestsRead, ActRequestsRevoke, ActMachinesRead, ActMachinesEnroll}
	case RoleRequester:
		return []Action{ActRequestsInitiate, ActPoliciesRead, ActMachinesRead}
	case RoleReader:
		return []Action{ActPoliciesRead, ActRequestsRead, ActMachinesRead}
	case RoleAuditor:
		return []Action{ActPoliciesRead, ActRequestsRead, ActMachinesRead, ActAuditRead}
	case RoleApprover:
		return []Action{ActRequestsApprove, ActRequestsRead, ActPoliciesRead, ActMachinesRead}
	}
	return nil
}

// Valid reports whether r is a built-in role.
func (r Role) Valid() bool { return r.Actions() != nil }

// Can reports whether the actor may perform act everywhere (a grant at
// scope "*"). Actions on a machine are checked with Allowed.
func (a Actor) Can(act Action) bool { return a.Allowed(act, nil) }
