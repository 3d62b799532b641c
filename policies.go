package drawbridge

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// PortRule is one port of a JIT policy: which port and protocol it protects,
// which sources may ask for it, and the longest access a request may ask for.
type PortRule struct {
	Port           uint16   `json:"port"`
	Protocol       Protocol `json:"protocol"`
	AllowedSources []string `json:"allowed_sources"` // canonical prefixes, or "*" for any
	MaxDuration    Duration `json:"max_duration"`
	IdleTimeout    Duration `json:"idle_timeout,omitzero"` // revoke a grant idle this long; 0: never
}

// Policy is a machine's JIT policy. While Enabled, its ports are closed to
// new inbound connections except for active grants.
//
// A policy targets one machine (MachineID) or every machine whose labels
// match Selector. A machine's own policy wins over selector policies; among
// selector policies the one with the higher Priority wins, then the one with
// more terms; two selectors that can overlap with the same priority and as
// many terms are refused when written.
type Policy struct {
	ID            string            `json:"id,omitempty"` // selector policies: "pol_…"
	MachineID     MachineID         `json:"machine_id,omitempty"`
	Selector      string            `json:"selector,omitempty"` // canonical label selector
	Priority      int               `json:"priority,omitempty"` // selector policies: higher wins (MinPriority to MaxPriority)
	Enabled       bool              `json:"enabled"`
	Rules         []PortRule        `json:"rules"`
	Approval      ApprovalRule      `json:"approval"`
	Justification JustificationRule `json:"justification"`
	Limits        Limits            `json:"limits"`
	UpdatedAt     time.Time         `json:"updated_at"`
	UpdatedBy     string            `json:"updated_by"`
}

// The range of selector policy priorities; 0 is the default.
const (
	MinPriority = -1000
	MaxPriority = 1000
)

// PolicyPrefix prefixes selector policy IDs.
const PolicyPrefix = "pol_"

// Settings is the part of a policy besides its rules, stored as one value.
type Settings struct {
	Approval      ApprovalRule      `json:"approval"`
	Justification JustificationRule `json:"justification"`
	Limits        Limits            `json:"limits"`
}

// Settings returns p's approval, justification and limits.
func (p *Policy) Settings() Settings {
	return Settings{Approval: p.Approval, Justification: p.Justification, Limits: p.Limits}
}

// SetSettings sets p's approval, justification and limits.
func (p *Policy) SetSettings(s Settings) {
	p.Approval, p.Justification, p.Limits = s.Approval, s.Justification, s.Limits
}

// Target names what the policy covers: the machine ID or "selector:…".
func (p *Policy) Target() string {
	if p.Selector != "" {
		return "selector:" + p.Selector
	}
	return string(p.MachineID)
}

// EffectivePolicy returns the policy that governs m: its own policy if it
// has one (enabled or not: an explicit per-machine decision), else the
// matching selector policy with the highest priority and, among those, the
// most terms, else nil. The result is a copy with MachineID set to m.
func EffectivePolicy(m *Machine, own *Policy, selectors []Policy) *Policy {
	if own != nil {
		c := *own
		return &c
	}
	var best *Policy
	bestTerms := 0
	for i := range selectors {
		sel, err := ParseSelector(selectors[i].Selector)
		if err != nil || !sel.Matches(m.Labels) {
			continue
		}
		if best == nil || precedes(selectors[i].Priority, len(sel), selectors[i].Selector, best.Priority, bestTerms, best.Selector) {
			best, bestTerms = &selectors[i], len(sel)
		}
	}
	if best == nil {
		return nil
	}
	c := *best
	c.MachineID = m.ID
	return &c
}

// precedes reports whether a selector policy (priority, number of terms,
// selector) takes precedence over another: higher priority, then more
// terms, then (for a stable answer; written policies never tie so far) the
// smaller selector.
func precedes(prio, terms int, sel string, bestPrio, bestTerms int, bestSel string) bool {
	if prio != bestPrio {
		return prio > bestPrio
	}
	if terms != bestTerms {
		return terms > bestTerms
	}
	return sel < bestSel
}

// CheckSelectorConflict refuses a selector policy that could match the same
// machine as another with the same priority and as many terms: neither
// would take precedence. It also checks the priority's range.
func CheckSelectorConflict(sel Selector, priority int, others []Policy, selfID string) error {
	if priority < MinPriority || priority > MaxPriority {
		return FieldErrorf("priority", "priority must be from %d to %d", MinPriority, MaxPriority)
	}
	for _, o := range others {
		if o.ID == selfID {
			continue
		}
		os, err := ParseSelector(o.Selector)
		if err != nil {
			continue
		}
		if o.Priority == priority && len(os) == len(sel) && os.Overlaps(sel) {
			return FieldErrorf("selector", "selector %s can match the same machines as the policy for %s, with the same priority (%d) and as many terms; give one a different priority (higher wins) or more terms", sel, o.Selector, priority)
		}
	}
	return nil
}

// CheckLimitsAgainstRules refuses, when the limits deny any-source access,
// "*" in allowed sources and allowed sources that together (over every rule
// of the policy) cover more than WideSources allows. The error names the
// first rule at which the sources become too wide.
func CheckLimitsAgainstRules(l Limits, rules []PortRule) error {
	if !l.DenyAnySource {
		return nil
	}
	var all []netip.Prefix
	for i, r := range rules {
		field := fmt.Sprintf("rules[%d].allowed_sources", i)
		for _, s := range r.AllowedSources {
			if s == AnySource {
				return FieldErrorf(field, "this policy denies any-source access (limits.deny_any_source); list specific prefixes")
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return FieldErrorf(field, "invalid allowed source %q", s)
			}
			all = append(all, p)
		}
		if wide, why := WideSources(all); wide {
			return FieldErrorf(field, "this policy denies any-source access (limits.deny_any_source), and over all its rules %s; list narrower prefixes", why)
		}
	}
	return nil
}

// Defaults follow Azure's: SSH on Linux, RDP on Windows, three hours, any source.
const (
	DefaultMaxDuration = 3 * time.Hour
	DefaultServerCap   = 24 * time.Hour // server-wide upper bound for any duration
	MinDuration        = time.Second
)

// DefaultRules returns the rules "policy enable" uses when the machine has no
// policy yet: port 22/tcp (3389/tcp on Windows), at most 3 hours (or the
// server cap if lower), from any source.
func DefaultRules(os string, serverCap time.Duration) []PortRule {
	port := uint16(22)
	if os == "windows" {
		port = 3389
	}
	return []PortRule{{
		Port:           port,
		Protocol:       TCP,
		AllowedSources: []string{AnySource},
		MaxDuration:    Duration(min(DefaultMaxDuration, serverCap)),
	}}
}

// NormalizeRules validates rules and returns them in canonical form: allowed
// sources canonical, deduplicated and sorted ("*" alone if present), an empty
// source list meaning "*", a zero max duration meaning the default (capped),
// an idle timeout either 0 (none) or from MinDuration to the max duration,
// rules sorted by port. Errors are Invalid and name the field ("rules[1].port").
func NormalizeRules(rules []PortRule, serverCap time.Duration) ([]PortRule, error) {
	if len(rules) == 0 {
		return nil, FieldErrorf("rules", "at least one port rule is required")
	}
	if len(rules) > 64 {
		return nil, FieldErrorf("rules", "at most 64 port rules per policy")
	}
	out := make([]PortRule, 0, len(rules))
	for i, r := range rules {
		field := fmt.Sprintf("rules[%d]", i)
		if r.Port == 0 {
			return nil, FieldErrorf(field+".port", "port must be from 1 to 65535")
		}
		if r.Protocol == "" {
			r.Protocol = TCP
		}
		if !r.Protocol.Valid() {
			return nil, FieldErrorf(field+".protocol", "protocol must be tcp, udp or any")
		}
		for j, o := range out {
			if o.Port == r.Port && (o.Protocol.Covers(r.Protocol) || r.Protocol.Covers(o.Protocol)) {
				return nil, FieldErrorf(field+".port", "port %d/%s overlaps rules[%d]", r.Port, r.Protocol, j)
			}
		}
		srcs, err := normalizeSources(r.AllowedSources)
		if err != nil {
			return nil, WithField(err, field+".allowed_sources")
		}
		r.AllowedSources = srcs
		if r.MaxDuration == 0 {
			r.MaxDuration = Duration(min(DefaultMaxDuration, serverCap))
		}
		if r.MaxDuration.Std() < MinDuration || r.MaxDuration.Std() > serverCap {
			return nil, FieldErrorf(field+".max_duration", "max duration must be from %s to %s", Duration(MinDuration), Duration(serverCap))
		}
		if r.IdleTimeout != 0 && (r.IdleTimeout.Std() < MinDuration || r.IdleTimeout > r.MaxDuration) {
			return nil, FieldErrorf(field+".idle_timeout", "idle timeout must be from %s to the max duration (%s), or 0 for none", Duration(MinDuration), r.MaxDuration)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b PortRule) int {
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return cmpString(string(a.Protocol), string(b.Protocol))
	})
	return out, nil
}

func normalizeSources(in []string) ([]string, error) {
	if len(in) == 0 {
		return []string{AnySource}, nil
	}
	if len(in) > 256 {
		return nil, FieldErrorf("", "at most 256 allowed sources per rule")
	}
	var out []string
	anySource := false
	for _, s := range in {
		c, err := ParseAllowedSource(s)
		if err != nil {
			return nil, FieldErrorf("", "%v", err)
		}
		// "*" absorbs the others, but they are still checked: whether a
		// typo is reported must not depend on where the "*" is.
		if c == AnySource {
			anySource = true
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if anySource {
		return []string{AnySource}, nil
	}
	slices.Sort(out)
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Rule returns the rule that covers port/proto. An empty proto matches the
// rule for that port whatever its protocol.
func (p *Policy) Rule(port uint16, proto Protocol) (PortRule, bool) {
	for _, r := range p.Rules {
		if r.Port == port && (proto == "" || r.Protocol.Covers(proto)) {
			return r, true
		}
	}
	return PortRule{}, false
}

// AllowsSource reports whether src lies inside one of the rule's allowed sources.
func (r PortRule) AllowsSource(src netip.Prefix) bool {
	for _, s := range r.AllowedSources {
		if s == AnySource {
			return true
		}
		if p, err := netip.ParsePrefix(s); err == nil && prefixWithin(src, p) {
			return true
		}
	}
	return false
}

// ProtectedPorts returns the concrete (port, protocol) pairs the policy closes,
// "any" expanded to tcp and udp; none when the policy is disabled or nil.
func (p *Policy) ProtectedPorts() []PortProto {
	if p == nil || !p.Enabled {
		return nil
	}
	var out []PortProto
	for _, r := range p.Rules {
		for _, proto := range r.Protocol.Expand() {
			out = append(out, PortProto{Port: r.Port, Protocol: proto})
		}
	}
	return out
}

// PortProto is a concrete port and protocol (tcp or udp).
type PortProto struct {
	Port     uint16   `json:"port"`
	Protocol Protocol `json:"protocol"`
}

// String formats "22/tcp".
func (p PortProto) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Protocol) }

// PolicyInput sets a machine's policy. Nil Enabled keeps the current value
// (true for a new policy); nil Rules keeps the current rules (Azure's
// defaults for a new policy).
//
// Nil Approval, Justification and Limits keep the current settings (the
// defaults for a new policy: automatic approval, optional justification,
// no limits). Selector and Priority are used only by the selector-policy
// route.
type PolicyInput struct {
	Selector      string             `json:"selector,omitempty"`
	Priority      *int               `json:"priority,omitempty"` // selector policies: nil keeps the current value (0 for a new policy)
	Enabled       *bool              `json:"enabled,omitempty"`
	Rules         []RuleInput        `json:"rules,omitempty"`
	Approval      *ApprovalInput     `json:"approval,omitempty"`
	Justification *JustificationRule `json:"justification,omitempty"`
	Limits        *Limits            `json:"limits,omitempty"`
}

// PolicyDeletion is what deleting a machine's own policy leaves: the policy
// that now governs the machine (a matching selector policy, or none) and the
// ways it is weaker than the deleted one.
type PolicyDeletion struct {
	Policy     *Policy     `json:"policy"`
	Weakenings []Weakening `json:"weakenings,omitempty"`
}

// ApprovalInput is an approval rule as the API receives it.
type ApprovalInput struct {
	Mode       ApprovalMode    `json:"mode"`
	Levels     []ApprovalLevel `json:"levels,omitempty"`
	PendingTTL string          `json:"pending_ttl,omitempty"` // absent: 1h; given: from 1m
	Extensions ApprovalMode    `json:"extensions,omitempty"`  // default manual
}

// RuleInput is a port rule as the API receives it. Only an absent field
// takes its default; a given duration must be at least 1s (so "0s" is an
// error, not the default or "off").
type RuleInput struct {
	Port           uint16   `json:"port"`
	Protocol       Protocol `json:"protocol,omitempty"`        // default tcp
	AllowedSources []string `json:"allowed_sources,omitempty"` // default ["*"]
	MaxDuration    string   `json:"max_duration,omitempty"`    // default 3h (capped by the server)
	IdleTimeout    string   `json:"idle_timeout,omitempty"`    // revoke a grant with no traffic this long; default none
}

// UncoveredTarget is an open target that a policy no longer covers: its
// index in the targets given to Uncovered, and why, as recorded when it is
// revoked.
type UncoveredTarget struct {
	Index  int
	Reason string
}

// Uncovered decides which of the open targets ts (on one machine) policy p
// no longer covers: all when p is disabled, else those whose port left p or
// whose source p no longer allows. Used when a policy is set, deleted or
// disabled; the caller revokes what it returns.
func Uncovered(p *Policy, ts []Target) []UncoveredTarget {
	var out []UncoveredTarget
	for i := range ts {
		t := &ts[i]
		if !t.Status.Open() {
			continue
		}
		reason := ""
		r, ok := p.Rule(t.Port, t.Protocol)
		switch {
		case !p.Enabled:
			reason = "JIT policy disabled"
		case !ok:
			reason = fmt.Sprintf("port %d/%s removed from the JIT policy", t.Port, t.Protocol)
		case !r.AllowsSource(t.Source):
			reason = fmt.Sprintf("source %s no longer allowed by the JIT policy", t.Source)
		default:
			continue
		}
		out = append(out, UncoveredTarget{Index: i, Reason: reason})
	}
	return out
}
