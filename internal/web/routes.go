package web

// routes registers every route. To find any behaviour, start here.
func (s *Server) routes() {
	m := s.mux
	// Probes, metrics and the API contract: no credentials.
	m.HandleFunc("GET /healthz", s.handleHealthz)
	m.HandleFunc("GET /readyz", s.public(s.handleReadyz))
	m.Handle("GET /metrics", s.metrics.Handler())
	m.HandleFunc("GET /api/v1/openapi.json", s.handleOpenAPI)

	// People and automation: bearer token (or the browser's session cookie).
	// After the handler: the query parameters the route takes; any other is
	// a 400 (checkQuery).
	m.HandleFunc("GET /api/v1/whoami", s.user(s.handleWhoami))
	m.HandleFunc("GET /api/v1/machines", s.user(s.handleMachineList, "status"))
	m.HandleFunc("GET /api/v1/machines/{machine}", s.user(s.handleMachineGet))
	m.HandleFunc("DELETE /api/v1/machines/{machine}", s.user(s.handleMachineDelete))
	m.HandleFunc("GET /api/v1/machines/{machine}/policy", s.user(s.handlePolicyGet))
	m.HandleFunc("PUT /api/v1/machines/{machine}/policy", s.user(s.handlePolicyPut))
	m.HandleFunc("DELETE /api/v1/machines/{machine}/policy", s.user(s.handlePolicyDelete))
	m.HandleFunc("POST /api/v1/machines/{machine}/policy/enable", s.user(s.handlePolicyEnable))
	m.HandleFunc("POST /api/v1/machines/{machine}/policy/disable", s.user(s.handlePolicyDisable))
	m.HandleFunc("GET /api/v1/policies", s.user(s.handlePolicyList))
	m.HandleFunc("POST /api/v1/requests", s.user(s.handleRequestCreate, "wait", "dry_run"))
	m.HandleFunc("GET /api/v1/requests", s.user(s.handleRequestList, "machine", "mine", "open", "awaiting", "limit"))
	m.HandleFunc("GET /api/v1/requests/{id}", s.user(s.handleRequestGet, "wait"))
	m.HandleFunc("POST /api/v1/requests/{id}/revoke", s.user(s.handleRequestRevoke))
	m.HandleFunc("POST /api/v1/requests/{id}/done", s.user(s.handleRequestDone))
	m.HandleFunc("POST /api/v1/requests/{id}/extend", s.user(s.handleRequestExtend))
	m.HandleFunc("POST /api/v1/requests/{id}/approve", s.user(s.handleRequestApprove))
	m.HandleFunc("POST /api/v1/requests/{id}/deny", s.user(s.handleRequestDeny))
	m.HandleFunc("GET /api/v1/approvals", s.user(s.handleApprovalList))
	m.HandleFunc("PATCH /api/v1/machines/{machine}/labels", s.user(s.handleMachineLabels))
	m.HandleFunc("GET /api/v1/selector-policies", s.user(s.handleSelectorPolicyList))
	m.HandleFunc("POST /api/v1/selector-policies", s.user(s.handleSelectorPolicyPut))
	m.HandleFunc("DELETE /api/v1/selector-policies/{id}", s.user(s.handleSelectorPolicyDelete))
	m.HandleFunc("GET /api/v1/bindings", s.user(s.handleBindingList))
	m.HandleFunc("POST /api/v1/bindings", s.user(s.handleBindingCreate))
	m.HandleFunc("DELETE /api/v1/bindings/{id}", s.user(s.handleBindingDelete, "revoke_grants"))
	m.HandleFunc("GET /api/v1/roles", s.user(s.handleRoleList))
	m.HandleFunc("POST /api/v1/roles", s.user(s.handleRoleCreate))
	m.HandleFunc("DELETE /api/v1/roles/{name}", s.user(s.handleRoleDelete))
	m.HandleFunc("POST /api/v1/tokens", s.user(s.handleTokenCreate))
	m.HandleFunc("GET /api/v1/tokens", s.user(s.handleTokenList))
	m.HandleFunc("DELETE /api/v1/tokens/{id}", s.user(s.handleTokenRevoke, "revoke_grants"))
	m.HandleFunc("POST /api/v1/join-tokens", s.user(s.handleJoinTokenCreate))
	m.HandleFunc("GET /api/v1/join-tokens", s.user(s.handleJoinTokenList))
	m.HandleFunc("DELETE /api/v1/join-tokens/{id}", s.user(s.handleJoinTokenRevoke))
	m.HandleFunc("GET /api/v1/events", s.user(s.handleEventList, "format", "after", "limit", "action", "target", "user", "request", "machine", "since", "until"))
	m.HandleFunc("GET /api/v1/audit/verify", s.user(s.handleAuditVerify, "id", "hash"))
	m.HandleFunc("GET /api/v1/audit/head", s.user(s.handleAuditHead))
	m.HandleFunc("GET /api/v1/webhooks", s.user(s.handleWebhookList))
	m.HandleFunc("POST /api/v1/webhooks", s.user(s.handleWebhookCreate))
	m.HandleFunc("DELETE /api/v1/webhooks/{id}", s.user(s.handleWebhookDelete))
	m.HandleFunc("POST /api/v1/webhooks/{id}/test", s.user(s.handleWebhookTest))
	m.HandleFunc("GET /api/v1/webhook-deliveries", s.user(s.handleDeliveryList, "webhook", "status", "limit"))
	m.HandleFunc("GET /api/v1/webhook-deliveries/{id}", s.user(s.handleDeliveryGet))
	m.HandleFunc("POST /api/v1/webhook-deliveries/{id}/retry", s.user(s.handleDeliveryRetry))

	// Sign-in with OIDC (sessions.go): public, except logout.
	m.HandleFunc("GET /api/v1/auth/config", s.public(s.handleAuthConfig))
	m.HandleFunc("POST /api/v1/auth/oidc/token", s.public(s.handleAuthTokenExchange))
	m.HandleFunc("GET /auth/login", s.public(s.handleAuthLogin))
	m.HandleFunc("GET /auth/callback", s.public(s.handleAuthCallback))
	m.HandleFunc("POST /auth/logout", s.public(s.handleAuthLogout))

	// Agents: enrollment with a join token, then mutual TLS.
	m.HandleFunc("POST /api/v1/agent/enroll", s.public(s.handleAgentEnroll))
	m.HandleFunc("GET /api/v1/agent/machines/{machine}/state", s.agent(s.handleAgentState, "index", "wait"))
	m.HandleFunc("POST /api/v1/agent/machines/{machine}/ack", s.agent(s.handleAgentAck))
	m.HandleFunc("PUT /api/v1/agent/machines/{machine}/inventory", s.agent(s.handleAgentInventory))
	m.HandleFunc("POST /api/v1/agent/machines/{machine}/usage", s.agent(s.handleAgentUsage))
	m.HandleFunc("POST /api/v1/agent/machines/{machine}/renew", s.agent(s.handleAgentRenew))
	m.HandleFunc("POST /api/v1/agent/machines/{machine}/offline", s.agent(s.handleAgentOffline))

	// Anything else under /api/ is a JSON 404, not the mux's text page.
	// A path that has routes with other methods is a 405 with Allow.
	m.HandleFunc("/api/", s.public(s.handleNotFound))
}
