package drawbridge

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Weakening is one way a policy change weakens what was there before: it
// lets more people in, from more places, for longer, or with fewer checks.
type Weakening struct {
	Machine string `json:"machine,omitempty"` // for a selector policy: the machine whose governing policy weakened
	Field   string `json:"field"`             // what weakened, e.g. "approval.mode", "rules[0].allowed_sources"
	Message string `json:"message"`           // e.g. "requests no longer need approval (manual → auto)"
}

// String formats "machine web-1: approval.mode: …" (without the machine
// part when there is none).
func (w Weakening) String() string {
	s := w.Field + ": " + w.Message
	if w.Machine != "" {
		s = "machine " + w.Machine + ": " + s
	}
	return s
}

// PolicyChange is a policy as written, with the ways the write weakened
// what governed before (none when it weakened nothing).
type PolicyChange struct {
	Policy
	Weakenings []Weakening `json:"weakenings,omitempty"`
}

// Weakenings lists the ways policy after is weaker than policy before:
// JIT disabled or the policy removed (after nil), a port no longer
// protected, wider allowed sources or a longer maximum (on a port, or on a
// new port compared with every port before), idle close off or later, approval off, fewer approval levels or a smaller quorum, more
// eligible approvers, extensions without approval, a weaker justification
// rule, and limits removed or raised. before nil (no policy) weakens
// nothing. Both policies must be normalised. The function is pure.
func Weakenings(before, after *Policy) []Weakening {
	if before == nil {
		return nil
	}
	var out []Weakening
	add := func(field, format string, args ...any) {
		out = append(out, Weakening{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if after == nil {
		if before.Enabled {
			add("policy", "the JIT policy is removed: its ports (%s) are open to every source", portList(before))
		}
		return out
	}
	if before.Enabled && !after.Enabled {
		add("enabled", "JIT is disabled: the policy's ports (%s) are open to every source", portList(before))
	}
	if after.Enabled {
		for _, pp := range before.allPorts() {
			if _, ok := after.Rule(pp.Port, pp.Protocol); !ok {
				add("rules", "port %s is no longer protected: it is open to every source", pp)
			}
		}
	}
	// What the policy admitted before on any port: a new port (say 2222
	// replacing 22) that admits more sources or longer access widens what
	// the policy grants, though the port itself was not protected before.
	var anyOld PortRule
	for _, r := range before.Rules {
		anyOld.AllowedSources = append(anyOld.AllowedSources, r.AllowedSources...)
		anyOld.MaxDuration = max(anyOld.MaxDuration, r.MaxDuration)
	}
	for i, r := range after.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		for _, proto := range r.Protocol.Expand() {
			old, ok := before.Rule(r.Port, proto)
			if !ok {
				if len(before.Rules) == 0 {
					break
				}
				if !sourcesWithin(r.AllowedSources, anyOld.AllowedSources) {
					add(field+".allowed_sources", "new port %d/%s admits sources no port admitted before: %s (before: %s)", r.Port, r.Protocol, strings.Join(r.AllowedSources, ","), strings.Join(anyOld.AllowedSources, ","))
				}
				if r.MaxDuration > anyOld.MaxDuration {
					add(field+".max_duration", "new port %d/%s allows longer access than any port before: %s (before: at most %s)", r.Port, r.Protocol, r.MaxDuration, anyOld.MaxDuration)
				}
				break
			}
			if !sourcesWithin(r.AllowedSources, old.AllowedSources) {
				add(field+".allowed_sources", "port %d/%s admits wider sources: %s (was %s)", r.Port, proto, strings.Join(r.AllowedSources, ","), strings.Join(old.AllowedSources, ","))
			}
			if r.MaxDuration > old.MaxDuration {
				add(field+".max_duration", "port %d/%s allows longer access: %s (was %s)", r.Port, proto, r.MaxDuration, old.MaxDuration)
			}
			switch {
			case old.IdleTimeout > 0 && r.IdleTimeout == 0:
				add(field+".idle_timeout", "port %d/%s no longer closes idle grants (was after %s)", r.Port, proto, old.IdleTimeout)
			case old.IdleTimeout > 0 && r.IdleTimeout > old.IdleTimeout:
				add(field+".idle_timeout", "port %d/%s closes idle grants later: after %s (was %s)", r.Port, proto, r.IdleTimeout, old.IdleTimeout)
			}
			break // one report per rule, even for "any"
		}
	}
	out = append(out, approvalWeakenings(before.Approval, after.Approval)...)
	if justificationRank(after.Justification.Mode) < justificationRank(before.Justification.Mode) {
		add("justification.mode", "justification is %s (was %s)", orOptional(after.Justification.Mode), before.Justification.Mode)
	}
	if before.Limits.DenyAnySource && !after.Limits.DenyAnySource {
		add("limits.deny_any_source", "any-source access is no longer refused")
	}
	if b, a := before.Limits.MaxActivePerUser, after.Limits.MaxActivePerUser; b > 0 && (a == 0 || a > b) {
		lim := "no limit"
		if a > 0 {
			lim = fmt.Sprint(a)
		}
		add("limits.max_active_per_user", "open grants per person: %s (was %d)", lim, b)
	}
	return out
}

func approvalWeakenings(before, after ApprovalRule) []Weakening {
	if !before.Manual() {
		return nil
	}
	if !after.Manual() {
		return []Weakening{{Field: "approval.mode", Message: "requests no longer need approval (manual → auto)"}}
	}
	var out []Weakening
	if len(after.Levels) < len(before.Levels) {
		out = append(out, Weakening{Field: "approval.levels", Message: fmt.Sprintf("%d level(s) of approval (was %d)", len(after.Levels), len(before.Levels))})
	}
	for i := range min(len(before.Levels), len(after.Levels)) {
		b, a := before.Levels[i], after.Levels[i]
		field := fmt.Sprintf("approval.levels[%d]", i)
		if a.Quorum < b.Quorum {
			out = append(out, Weakening{Field: field + ".quorum", Message: fmt.Sprintf("level %d needs %d approval(s) (was %d)", i+1, a.Quorum, b.Quorum)})
		}
		if len(b.Approvers) > 0 && (len(a.Approvers) == 0 || slices.ContainsFunc(a.Approvers, func(s string) bool { return !slices.Contains(b.Approvers, s) })) {
			out = append(out, Weakening{Field: field + ".approvers", Message: fmt.Sprintf("more people may approve at level %d: %s (was %s)", i+1, approverList(a.Approvers), approverList(b.Approvers))})
		}
	}
	if before.Extensions != ApprovalAuto && after.Extensions == ApprovalAuto {
		out = append(out, Weakening{Field: "approval.extensions", Message: "extensions no longer need approval"})
	}
	return out
}

func approverList(as []string) string {
	if len(as) == 0 {
		return "anyone with requests/approve"
	}
	return strings.Join(as, " or ")
}

func justificationRank(m JustificationMode) int {
	switch m {
	case JustificationRequired:
		return 1
	case JustificationPattern:
		return 2
	}
	return 0
}

func orOptional(m JustificationMode) JustificationMode {
	if m == "" {
		return JustificationOptional
	}
	return m
}

// allPorts returns the concrete ports p's rules name, enabled or not.
func (p *Policy) allPorts() []PortProto {
	var out []PortProto
	for _, r := range p.Rules {
		for _, proto := range r.Protocol.Expand() {
			out = append(out, PortProto{Port: r.Port, Protocol: proto})
		}
	}
	return out
}

func portList(p *Policy) string {
	var s []string
	for _, pp := range p.allPorts() {
		s = append(s, pp.String())
	}
	return strings.Join(s, ", ")
}

// sourcesWithin reports whether every allowed source in inner lies inside
// one in outer.
func sourcesWithin(inner, outer []string) bool {
	if slices.Contains(outer, AnySource) {
		return true
	}
	for _, s := range inner {
		if s == AnySource {
			return false
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return false
		}
		if !slices.ContainsFunc(outer, func(o string) bool {
			q, err := netip.ParsePrefix(o)
			return err == nil && prefixWithin(p, q)
		}) {
			return false
		}
	}
	return true
}
