package drawbridge

import (
	"encoding/json"
	"fmt"
	"time"
)

// Usage is the evidence that a grant was used: the packets and bytes the
// kernel accepted from its source to its port while it was open (new and
// established connections alike), and when traffic was first and last seen.
//
// Precision: the agent reads the kernel counters every few seconds (its
// --usage-interval), so FirstUsedAt and LastUsedAt are the server's time of
// the agent's first and last reading that saw the counters move, accurate
// to one interval plus the report's transit time. Traffic in the last
// interval before an element expires in the kernel, or before the agent
// restarts, may go uncounted. When grants overlap, traffic through the
// shared range counts for each of them.
type Usage struct {
	Packets     uint64    `json:"packets"`
	Bytes       uint64    `json:"bytes"`
	FirstUsedAt time.Time `json:"first_used_at,omitzero"`
	LastUsedAt  time.Time `json:"last_used_at,omitzero"`
	ReportedAt  time.Time `json:"reported_at,omitzero"` // the agent's latest report

	// Epoch and the epoch counts are the agent run the totals were last
	// reported by and what that run had reported: an agent's totals start
	// from zero when it restarts, so a new epoch adds to the total while a
	// repeated report of the same epoch changes nothing.
	Epoch        string `json:"-"`
	EpochPackets uint64 `json:"-"`
	EpochBytes   uint64 `json:"-"`
}

// Used reports whether any packet was counted.
func (u *Usage) Used() bool { return u != nil && u.Packets > 0 }

// UseState says whether a grant was used: yes, no, or unknown when its
// agent never reported the grant's counters (killed, or offline, before its
// first reading), so that no traffic was ever counted, not even zero.
type UseState string

// Use states.
const (
	UsedYes     UseState = "yes"
	UsedNo      UseState = "no"
	UsedUnknown UseState = "unknown"
)

// State returns whether the grant was used; a nil Usage (no report from
// the agent) is UsedUnknown.
func (u *Usage) State() UseState {
	switch {
	case u == nil:
		return UsedUnknown
	case u.Packets > 0:
		return UsedYes
	}
	return UsedNo
}

// Summary says in a few words whether the grant was used, for the audit log
// and the CLI: "used: yes, 14 MB, last packet 10:42:05 UTC", "used: no", or
// for a nil Usage (no report from the agent) "used: unknown (the agent did
// not report counters)".
func (u *Usage) Summary() string {
	switch u.State() {
	case UsedUnknown:
		return "used: unknown (the agent did not report counters)"
	case UsedNo:
		return "used: no"
	}
	s := fmt.Sprintf("used: yes, %s", FormatBytes(u.Bytes))
	if !u.LastUsedAt.IsZero() {
		s += ", last packet " + u.LastUsedAt.UTC().Format("15:04:05") + " UTC"
	}
	return s
}

// Details returns the usage facts recorded in an audit event's details:
// "used" is true or false, or "unknown" when the agent did not report.
func (u *Usage) Details() map[string]any {
	if u == nil {
		return map[string]any{"used": UsedUnknown}
	}
	m := map[string]any{"used": u.Used()}
	m["packets"], m["bytes"] = u.Packets, u.Bytes
	if !u.FirstUsedAt.IsZero() {
		m["first_used_at"] = u.FirstUsedAt
	}
	if !u.LastUsedAt.IsZero() {
		m["last_used_at"] = u.LastUsedAt
	}
	return m
}

// FormatBytes formats n in decimal units: "512 B", "14 MB", "1.5 GB".
func FormatBytes(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	f := "%.1f %cB"
	if v >= 10 {
		f = "%.0f %cB"
	}
	return fmt.Sprintf(f, v, "kMGTP"[exp])
}

// UsageInput is an agent's report of what its grants carried: for each
// target, the totals counted by this run of the agent (Epoch), so reports
// are idempotent and a lost one is made good by the next.
type UsageInput struct {
	Epoch   string        `json:"epoch"` // random per agent run
	Targets []TargetUsage `json:"targets"`
}

// TargetUsage is one target's totals in a UsageInput. The times are ages
// relative to the report, not clock readings, so the agent's clock never
// matters (as with remaining durations in DesiredState); they mean nothing
// while Packets is 0.
type TargetUsage struct {
	Target       TargetID `json:"target"`
	Packets      uint64   `json:"packets"`
	Bytes        uint64   `json:"bytes"`
	FirstSeenAgo Duration `json:"first_seen_ago"` // how long ago the first packet was seen
	LastSeenAgo  Duration `json:"last_seen_ago"`  // how long ago the last packet was seen
}

// Limits on usage reports.
const (
	MaxUsageTargets = 4096 // keeps a report under the API's 1 MiB body limit
	maxEpoch        = 64
)

// CheckUsageInput checks a report's shape; errors are Invalid and name the
// field.
func CheckUsageInput(in UsageInput) error {
	if in.Epoch == "" || len(in.Epoch) > maxEpoch {
		return FieldErrorf("epoch", "epoch must be 1 to %d characters", maxEpoch)
	}
	if err := CheckText("epoch", in.Epoch, maxEpoch); err != nil {
		return err
	}
	if len(in.Targets) > MaxUsageTargets {
		return FieldErrorf("targets", "at most %d targets per report", MaxUsageTargets)
	}
	for i, t := range in.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		if !ValidID(string(t.Target), TargetPrefix) {
			return FieldErrorf(field+".target", "malformed target ID %s", Excerpt(string(t.Target)))
		}
		if t.FirstSeenAgo < 0 || t.LastSeenAgo < 0 || t.LastSeenAgo > t.FirstSeenAgo {
			return FieldErrorf(field, "first_seen_ago and last_seen_ago must be non-negative, last no older than first")
		}
	}
	return nil
}

// Merge folds one target's report, received at now, into u, and reports
// whether the totals or times changed. Totals only grow: a report of the
// same epoch adds what exceeds that epoch's last report, a new epoch adds
// all of its counts.
func (u *Usage) Merge(epoch string, r TargetUsage, now time.Time) bool {
	if epoch != u.Epoch {
		u.Epoch, u.EpochPackets, u.EpochBytes = epoch, 0, 0
	}
	counted := false
	if r.Packets > u.EpochPackets {
		u.Packets += r.Packets - u.EpochPackets
		u.EpochPackets = r.Packets
		counted = true
	}
	if r.Bytes > u.EpochBytes {
		u.Bytes += r.Bytes - u.EpochBytes
		u.EpochBytes = r.Bytes
		counted = true
	}
	changed := counted
	if r.Packets > 0 {
		first, last := now.Add(-r.FirstSeenAgo.Std()), now.Add(-r.LastSeenAgo.Std())
		if u.FirstUsedAt.IsZero() || first.Before(u.FirstUsedAt) {
			u.FirstUsedAt, changed = first, true
		}
		// Only a report that counted new packets moves the last time: a
		// repeated report would otherwise drift it by the transit time.
		if counted && last.After(u.LastUsedAt) {
			u.LastUsedAt = last
		}
	}
	u.ReportedAt = now
	return changed
}

// IdleSince returns when an active target last showed activity: its last
// packet, or its activation if that is later or nothing was counted. It is
// the zero time for a target that never became active.
func (t *Target) IdleSince() time.Time {
	if t.AppliedAt.IsZero() {
		return time.Time{}
	}
	if t.Usage != nil && t.Usage.LastUsedAt.After(t.AppliedAt) {
		return t.Usage.LastUsedAt
	}
	return t.AppliedAt
}

// IdleDue reports whether an active target has carried no new traffic for
// at least idle at now, so that idle close should revoke it. A zero idle
// never closes.
func (t *Target) IdleDue(idle Duration, now time.Time) bool {
	if idle <= 0 || t.Status != StatusActive {
		return false
	}
	since := t.IdleSince()
	return !since.IsZero() && now.Sub(since) >= idle.Std()
}

// ReasonIdle is the reason of a target revoked by idle close.
const ReasonIdle = "idle"

// IdleTargets returns the indexes of the targets in ts that policy p's idle
// timeouts close at now: active targets of p's machine whose rule has an
// idle timeout and that carried no new traffic for that long (see
// Target.IdleDue). A nil or disabled policy closes none.
func IdleTargets(p *Policy, ts []Target, now time.Time) []int {
	if p == nil || !p.Enabled {
		return nil
	}
	var out []int
	for i := range ts {
		t := &ts[i]
		if t.MachineID != p.MachineID {
			continue
		}
		r, ok := p.Rule(t.Port, t.Protocol)
		if ok && t.IdleDue(r.IdleTimeout, now) {
			out = append(out, i)
		}
	}
	return out
}

// HasIdleTimeout reports whether any rule of an enabled policy closes idle
// grants.
func (p *Policy) HasIdleTimeout() bool {
	if p == nil || !p.Enabled {
		return false
	}
	for _, r := range p.Rules {
		if r.IdleTimeout > 0 {
			return true
		}
	}
	return false
}

// MarshalJSON writes a target with, once it was open (or counted), its
// "used" state: yes, no or unknown (see Usage.State), so that a client
// never reads a missing report as "not used".
func (t Target) MarshalJSON() ([]byte, error) {
	type plain Target // without this method
	v := struct {
		plain
		Used UseState `json:"used,omitempty"`
	}{plain: plain(t)}
	if !t.AppliedAt.IsZero() || t.Usage != nil {
		v.Used = t.Usage.State()
	}
	return json.Marshal(v)
}
