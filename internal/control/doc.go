// Package control holds Drawbridge's use cases. Each exported method of
// Service is one use case: in one transaction it loads values, asks a pure
// decision of package drawbridge (d.PlanRequest, d.MayDecide,
// d.CheckExtension, d.Uncovered, d.Authorize, passing now), writes what the
// decision returns and appends the audit event; then it wakes whoever
// waits for the change (agents' long-polls, --wait).
//
// Errors are *drawbridge.Error with a Kind (Invalid, Forbidden, NotFound,
// Conflict, Unavailable) or wrapped internal errors.
//
// Files are named by resource, with the same names as in web, client and
// the store: requests.go (create with its plan, dry run, list, revoke,
// done), approvals.go (approve, deny, the approvals queue), extensions.go,
// expiry.go (the sweeps that expire grants and pending requests),
// machines.go (list, labels, delete), policies.go (machine and selector
// policies), tokens.go (API tokens, authentication), jointokens.go,
// bindings.go (role bindings and custom roles), audit.go (events,
// verification, retention), refusals.go (audited refusals), webhooks.go,
// agents.go (enroll, desired state, ack), usage.go, sessions.go (OIDC
// sessions) and authz.go (loading helpers for the vocabulary's
// authorization: visibility of a request, the machines where an actor may
// act). service.go and hub.go are the plumbing: the Service, its audit
// helper and the wake-up hub.
package control
