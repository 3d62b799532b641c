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
// Files are named by resource, as in the adapter layers (requests.go,
// approvals.go, extensions.go, machines.go, policies.go, tokens.go,
// jointokens.go, bindings.go, audit.go, webhooks.go, agents.go, usage.go,
// sessions.go, authz.go): each holds the resource's types, its API input and
// output shapes (shared by the server and the Go client) and its pure rules.
package drawbridge
