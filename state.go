package drawbridge

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// DesiredState is what a machine's enforcer must have in the kernel: the
// protected ports and the grants with their remaining time. The server sends
// remaining durations, not end times, so the agent's clock never matters:
// the agent counts down from when it received the state.
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
	NotAfter  time.Time    `json:"not_after"` // server's clock; informational
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
		if t.Status != StatusApplying && t.Status != StatusActive || !now.Before(t.End) {
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
