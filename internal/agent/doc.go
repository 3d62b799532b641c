// Package agent is the host side of Drawbridge: it enrolls with a join
// token (the key is made here; the server only signs a CSR), then watches
// its machine's desired state over mutual TLS and applies it to the kernel
// through an Enforcer, confirming each version it applied.
//
// It never extends a grant: the server sends each grant's remaining time
// and end, and the agent hands the kernel what is left by the stricter of
// the two, the remaining time counted down on its monotonic clock from
// receipt and the end read on its own clock (see grantLeft), so neither a
// slow delivery nor clock skew alone keeps a port open, and never both. It
// estimates its clock offset from the server on every call and reports it.
// On a clean stop it tells the server; when the server no longer knows its
// machine (deleted) it exits with a GoneError. Every RepairInterval it re-applies the last state, which
// repairs drift in its table. When the server is unreachable it keeps the
// kernel as it is: grants expire there on their own, so closing never
// depends on the agent or the server.
//
// Every UsageInterval it also reads the traffic counters of the allow
// elements, turns them into running totals per target (see usage.go), and
// reports what changed, so the server can show whether a grant was used and
// close idle ones.
package agent
