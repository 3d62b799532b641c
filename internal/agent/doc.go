// Package agent is the host side of Drawbridge: it enrolls with a join
// token (the key is made here; the server only signs a CSR), then watches
// its machine's desired state over mutual TLS and applies it to the kernel
// through an Enforcer, confirming each version it applied.
//
// It never extends a grant: the server sends remaining durations, the agent
// counts them down on its own monotonic clock and hands the kernel exactly
// what is left. Every RepairInterval it re-applies the last state, which
// repairs drift in its table. When the server is unreachable it keeps the
// kernel as it is: grants expire there on their own, so closing never
// depends on the agent or the server.
//
// Every UsageInterval it also reads the traffic counters of the allow
// elements, turns them into running totals per target (see usage.go), and
// reports what changed, so the server can show whether a grant was used and
// close idle ones.
package agent
