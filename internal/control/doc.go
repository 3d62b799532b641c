// Package control holds Drawbridge's use cases. Each exported method of
// Service is one use case: in one transaction it loads values, asks a pure
// decision of package drawbridge (d.PlanRequest, d.MayDecide,
// d.CheckExtension, d.Uncovered, d.Authorize, passing now), writes what the
// decision returns and appends the audit event; then it wakes whoever
// waits for the change (agents' long-polls, --wait).
//
// Wake-ups ride on the transaction. A use case writes only through
// Service.update (or updateRevocation, which commits while the disk is
// full), never through store.DB.Tx directly. The store.Tx records what its
// writes changed (store.Tx.Changed): a machine whose desired-state version
// it bumped, a request whose row, targets or approvals it wrote. After a
// successful commit update publishes exactly those on the Hub,
// "machine:<id>" for the agent's WatchState and "request:<id>" for
// WaitApplied; a failed transaction publishes nothing, and a retried one
// (PostgreSQL) only what its last attempt changed. So no use case names a
// topic, and none can forget one: changing a machine's state means bumping
// its version, which wakes its agent. TestWakeUps checks this against the
// database.
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
// helper, the wake-up hub and update, the one way a use case writes.
package control
