// Package control holds Drawbridge's use cases. Each exported method of
// Service is one use case: it authorizes the actor at the call site, checks
// input against policy with the pure rules of package drawbridge, changes
// values, saves them and appends the audit event, all in one transaction;
// then it wakes whoever waits for the change (agents' long-polls, --wait).
//
// Errors are *drawbridge.Error with a Kind (Invalid, Forbidden, NotFound,
// Conflict, Unavailable) or wrapped internal errors.
package control
