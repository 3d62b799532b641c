// Package drawbridge is the vocabulary of Drawbridge, a self-hosted
// just-in-time (JIT) machine access system: machines, JIT policies with their
// port rules, access requests and their per-port targets, the grants an
// enforcer applies, audit events, the error type, and the pure rules that
// connect them (validation, request checking, desired firewall state).
//
// The package depends on the standard library only. Everything here is a
// value or a pure function; time is always passed in as now. Storage, HTTP
// and netlink live in the internal adapter packages.
//
// Decisions are made here, each in one function, on values the caller
// loaded (after upspin's access.Can): PlanRequest (may a request be
// created, for what, needing which approval), MayDecide (may an actor
// approve or deny it), CheckExtension and ExtensionFits (may it be
// extended by this much), Uncovered (which open targets a policy no longer
// covers) and Authorize (may an actor act on one machine). The state
// machine's groups are named once (OpenStatuses, GrantedStatuses,
// WaitingStatuses, ApprovedStatuses, Target.Granted) and the store's
// queries receive them.
//
// Files are named by resource, as in the adapter layers (requests.go,
// approvals.go, extensions.go, machines.go, policies.go, tokens.go,
// jointokens.go, bindings.go, audit.go, webhooks.go, agents.go, usage.go,
// sessions.go, authz.go): each holds the resource's types, its API input and
// output shapes (shared by the server and the Go client) and its pure rules.
package drawbridge
