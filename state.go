package drawbridge

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// DesiredState is what a machine's enforcer must have in the kernel: the
// protected ports and the grants with their remaining time and end. The
// agent holds each grant to the stricter of two deadlines: Remaining counted
// down on its monotonic clock from when the state arrived (late by the
// delivery delay, but never by its clock), and NotAfter read on its own
// clock (exact when the clocks agree, late by the skew when its clock is
// behind). So a grant outlives its end by at most the smaller of the
// delivery delay and the clock skew, and by nothing when the clocks agree.
type DesiredState struct {
	MachineID MachineID    `json:"machine_id"`
	Version   int64        `json:"version"`
	Protected []PortProto  `json:"protected"`
	Grants    []GrantState `json:"grants"`
	Terminate []GrantState `json:"terminate,omitempty"` // revoked flows to cut (conntrack)
}

// GrantState is one allow entry: a source may open new connections to a
// port for the remaining time. Grants with the same source, port and
// protocol are coalesced into one, with the later end.
type GrantState struct {
	Targets   []TargetID   `json:"targets"`
	Source    netip.Prefix `json:"source"`
	Port      uint16       `json:"port"`
	Protocol  Protocol     `json:"protocol"` // tcp or udp
	Remaining Duration     `json:"remaining"`
	NotAfter  time.Time    `json:"not_after"` // the end, on the server's clock
}

// Desired computes a machine's desired state at now from its policy and the
// targets that concern it. Only applying or active targets on a protected
// port with time left become grants; "any" expands to tcp and udp; duplicates
// coalesce to the latest end. Revoked targets marked Terminate and not yet
// terminated are listed for the agent to cut.
func Desired(m MachineID, version int64, p *Policy, targets []Target, now time.Time) DesiredState {
	ds := DesiredState{MachineID: m, Version: version, Protected: p.ProtectedPorts(), Grants: []GrantState{}}
	if ds.Protected == nil {
		ds.Protected = []PortProto{}
	}
	protected := map[PortProto]bool{}
	for _, pp := range ds.Protected {
		protected[pp] = true
	}
	type key struct {
		src  netip.Prefix
		port PortProto
	}
	idx := map[key]int{}
	for _, t := range targets {
		if t.MachineID != m {
			continue
		}
		if t.Status == StatusRevoked && t.Terminate && t.TerminatedAt.IsZero() {
			for _, proto := range t.Protocol.Expand() {
				ds.Terminate = append(ds.Terminate, GrantState{Targets: []TargetID{t.ID}, Source: t.Source, Port: t.Port, Protocol: proto})
			}
			continue
		}
		if !t.Granted(now) {
			continue
		}
		for _, proto := range t.Protocol.Expand() {
			pp := PortProto{Port: t.Port, Protocol: proto}
			if !protected[pp] {
				continue
			}
			k := key{t.Source, pp}
			if i, ok := idx[k]; ok {
				g := &ds.Grants[i]
				g.Targets = append(g.Targets, t.ID)
				if t.End.After(g.NotAfter) {
					g.NotAfter = t.End
				}
				continue
			}
			idx[k] = len(ds.Grants)
			ds.Grants = append(ds.Grants, GrantState{Targets: []TargetID{t.ID}, Source: t.Source, Port: t.Port, Protocol: proto, NotAfter: t.End})
		}
	}
	for i := range ds.Grants {
		g := &ds.Grants[i]
		// Truncate to milliseconds, the kernel's resolution, rounding down so
		// that nothing stays open past its end.
		g.Remaining = Duration(g.NotAfter.Sub(now).Truncate(time.Millisecond))
		slices.Sort(g.Targets)
	}
	byKey := func(a, b GrantState) int {
		return cmp.Or(a.Source.Addr().Compare(b.Source.Addr()), cmp.Compare(a.Source.Bits(), b.Source.Bits()),
			cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Targets[0], b.Targets[0]))
	}
	slices.SortFunc(ds.Grants, byKey)
	slices.SortFunc(ds.Terminate, byKey)
	return ds
}

// ServerTimeHeader is the response header on every agent route that carries
// the server's clock: when the request arrived and when the response left,
// RFC 3339 with nanoseconds, separated by a comma. From these and its own
// send and receive times an agent estimates its clock offset the way NTP
// does (see Clock), with the server's processing (a long-poll's wait
// included) taken out of the round trip.
const ServerTimeHeader = "Drawbridge-Time"

// FormatServerTime formats the ServerTimeHeader value.
func FormatServerTime(received, sent time.Time) string {
	return received.UTC().Format(time.RFC3339Nano) + "," + sent.UTC().Format(time.RFC3339Nano)
}

// ParseServerTime parses a ServerTimeHeader value.
func ParseServerTime(v string) (received, sent time.Time, err error) {
	a, b, ok := strings.Cut(v, ",")
	if !ok {
		return received, sent, fmt.Errorf("%s: want two times, got %q", ServerTimeHeader, v)
	}
	if received, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(a)); err != nil {
		return received, sent, fmt.Errorf("%s: %w", ServerTimeHeader, err)
	}
	if sent, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(b)); err != nil {
		return received, sent, fmt.Errorf("%s: %w", ServerTimeHeader, err)
	}
	if sent.Before(received) {
		return received, sent, fmt.Errorf("%s: sent before received", ServerTimeHeader)
	}
	return received, sent, nil
}

// Clock is an agent's estimate of its clock against the server's, from the
// exchange with the shortest network round trip among its recent calls.
// The true offset lies within Offset ± RTT/2 (the delays each way are not
// known, only their sum).
type Clock struct {
	Offset Offset   `json:"offset"` // the agent's clock minus the server's: positive when the agent is ahead
	RTT    Duration `json:"rtt"`    // network round trip of that exchange, server time excluded
}

// Sample returns the Clock estimate of one exchange: the agent sent at t0
// and received the answer at t1 (its clock; t1 - t0 on the monotonic clock
// when both carry it), the server received at received and answered at sent
// (its clock).
func Sample(t0, t1, received, sent time.Time) Clock {
	w0 := t0.Round(0)
	w1 := w0.Add(t1.Sub(t0))
	rtt := max(t1.Sub(t0)-sent.Sub(received), 0)
	return Clock{Offset: Offset((w0.Sub(received) + w1.Sub(sent)) / 2), RTT: Duration(rtt)}
}

// Skewed reports whether c shows the agent's clock off by more than
// threshold for certain: the offset minus the measurement's uncertainty
// (RTT/2) exceeds it. A nil c or a zero threshold is never skewed.
func (c *Clock) Skewed(threshold time.Duration) bool {
	if c == nil || threshold <= 0 {
		return false
	}
	return c.Offset.Std().Abs()-c.RTT.Std()/2 > threshold
}

// SkewWarning is the warning shown for a machine whose agent's clock is off
// by more than threshold (see Skewed), or "" when it is not.
func (c *Clock) SkewWarning(threshold time.Duration) string {
	if !c.Skewed(threshold) {
		return ""
	}
	dir := "ahead of"
	if c.Offset < 0 {
		dir = "behind"
	}
	return fmt.Sprintf("the agent's clock is %s %s the server's (more than %s): grants may close early or late by up to that much; synchronise it (NTP)",
		Duration(c.Offset.Std().Abs().Round(time.Millisecond)), dir, Duration(threshold))
}

// Check validates a Clock an agent reported (nil is valid: not measured);
// errors are Invalid and name field.
func (c *Clock) Check(field string) error {
	if c != nil && c.RTT < 0 {
		return FieldErrorf(field+".rtt", "rtt must not be negative")
	}
	return nil
}

// Offset is a signed duration, written in Go style ("-1.5s", "250ms").
type Offset time.Duration

// Std returns o as a time.Duration.
func (o Offset) Std() time.Duration { return time.Duration(o) }

// MarshalText writes the Go style string.
func (o Offset) MarshalText() ([]byte, error) { return []byte(time.Duration(o).String()), nil }

// UnmarshalText reads a Go style duration, signed.
func (o *Offset) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("offset must be a signed duration such as \"-1.5s\"")
	}
	*o = Offset(v)
	return nil
}
