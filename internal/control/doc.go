// Package control holds Drawbridge's use cases. Each exported method of
// Service is one use case: it authorizes the actor at the call site, checks
// input against policy with the pure rules of package drawbridge, changes
// values, saves them and appends the audit event, all in one transaction;
// then it wakes whoever waits for the change (agents' long-polls, --wait).
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
// sessions) and authz.go (the authorization helpers). service.go and hub.go
// are the plumbing: the Service, its audit helper and the wake-up hub.
package control
