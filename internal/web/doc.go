// Package web serves Drawbridge over HTTP: the JSON API under /api/v1 (for
// people, automation and agents), the OpenAPI document, health probes and
// Prometheus metrics. Every route is listed in routes.go. Every error
// response is written by errors.go, with the status of its Kind from the
// one table the client reads back too (drawbridge.Kind.HTTPStatus).
//
// Authentication: people and automation send "Authorization: Bearer <token>"
// (API tokens, or session tokens from OIDC sign-in); a browser signed in at
// /auth/login sends the drawbridge_session cookie instead, and its
// state-changing requests must come from the same origin (CSRF protection
// with http.CrossOriginProtection);
// agents present their client certificate (mTLS) on /api/v1/agent/ routes,
// and may only touch their own machine.
//
// Handlers are filed by resource, with the same file names as in control
// and client: requests.go, approvals.go, extensions.go, machines.go,
// policies.go, tokens.go, jointokens.go, bindings.go (bindings and roles),
// audit.go (events, verify, head), webhooks.go (and deliveries),
// agents.go (the mTLS agent routes), usage.go, sessions.go (OIDC sign-in,
// session cookie, logout) and authz.go (whoami). The rest is
// infrastructure: routes.go (every route), server.go, auth.go (the
// user/agent/public wrappers), json.go (strict decoding), query.go (query
// parameters), errors.go, health.go, metrics.go and openapi.go.
package web
