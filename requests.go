package drawbridge

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Status is the state of an access request and of each of its targets.
//
//	pending → approved → applying → active → expired | revoked
//	                  ↘ denied               ↘ failed
type Status string

// Statuses. The list only grows.
const (
	StatusPending  Status = "pending"  // waits for approval
	StatusApproved Status = "approved" // approved, not yet sent to the enforcer
	StatusApplying Status = "applying" // sent; waiting for the agent's confirmation
	StatusActive   Status = "active"   // confirmed in the kernel
	StatusExpired  Status = "expired"  // reached its end time
	StatusRevoked  Status = "revoked"  // ended early by a person or by a policy change
	StatusDenied   Status = "denied"   // an approver said no
	StatusFailed   Status = "failed"   // the enforcer could not apply it
)

// Named sets of statuses: the state machine's groups, stated once here and
// passed to the store's queries as parameters. Do not modify them.
var (
	// OpenStatuses can still let traffic in, now or later (Status.Open).
	OpenStatuses = []Status{StatusPending, StatusApproved, StatusApplying, StatusActive}
	// GrantedStatuses are a grant's: sent to the agent or confirmed in the
	// kernel (Status.Granted); until its end (Target.Granted).
	GrantedStatuses = []Status{StatusApplying, StatusActive}
	// WaitingStatuses are open but not granted yet: waiting for approval,
	// or approved and not yet sent.
	WaitingStatuses = []Status{StatusPending, StatusApproved}
	// ApprovedStatuses are the request statuses counted as approved (a
	// machine's access summary): approved, granted, or ended after.
	ApprovedStatuses = []Status{StatusApproved, StatusApplying, StatusActive, StatusExpired, StatusRevoked}
)

// Open reports whether the status can still let traffic in (now or later):
// one of OpenStatuses.
func (s Status) Open() bool {
	return slices.Contains(OpenStatuses, s)
}

// Granted reports whether the status is a grant's (applying or active):
// one of GrantedStatuses.
func (s Status) Granted() bool {
	return slices.Contains(GrantedStatuses, s)
}

// Request is an access request: one requester, one justification, one
// duration, and one or more targets (machine × port × source).
type Request struct {
	ID            RequestID `json:"id"`
	Requester     string    `json:"requester"`      // subject: "token:tok_…"
	RequesterName string    `json:"requester_name"` // display name
	// RequesterPerson is the person behind the requester (Actor.Person)
	// when it differs from Requester: a token's owner.
	RequesterPerson string    `json:"requester_person,omitempty"`
	Justification   string    `json:"justification"`
	Duration        Duration  `json:"duration"`
	CreatedAt       time.Time `json:"created_at"`
	Start           time.Time `json:"start"` // when the access window opened (approval time)
	End             time.Time `json:"end"`
	Status          Status    `json:"status"` // aggregate of the targets' statuses
	Targets         []Target  `json:"targets"`
	// HiddenTargets counts the targets left out of this view because they
	// are on machines outside the caller's scope (see Redact).
	HiddenTargets int `json:"hidden_targets,omitempty"`

	Approval     ApprovalRule `json:"approval"`               // the requirement it was created under
	PendingUntil time.Time    `json:"pending_until,omitzero"` // pending: expires unless approved by then
	Approvals    []Approval   `json:"approvals,omitempty"`    // decisions so far
	ExtendBy     Duration     `json:"extend_by,omitzero"`     // an extension waiting for approval
}

// Person returns the person who made the request: RequesterPerson, or
// Requester for requests made before owners were recorded.
func (r *Request) Person() string {
	if r.RequesterPerson != "" {
		return r.RequesterPerson
	}
	return r.Requester
}

// Redact removes the targets whose machine visible rejects and counts them
// in HiddenTargets: a caller who may see a request through one machine
// learns nothing about the others (not their names, IDs, ports or sources).
// The request's own status stays the aggregate of all its targets.
func (r *Request) Redact(visible func(MachineID) bool) {
	kept := r.Targets[:0:0]
	for _, t := range r.Targets {
		if visible(t.MachineID) {
			kept = append(kept, t)
		} else {
			r.HiddenTargets++
		}
	}
	if r.HiddenTargets > 0 {
		r.Targets = kept
	}
}

// Target is one machine × port × source of a request, with its own status.
// While applying or active it is a grant.
type Target struct {
	ID           TargetID     `json:"id"`
	RequestID    RequestID    `json:"request_id"`
	MachineID    MachineID    `json:"machine_id"`
	MachineName  string       `json:"machine_name"`
	Port         uint16       `json:"port"`
	Protocol     Protocol     `json:"protocol"`
	Source       netip.Prefix `json:"source"`
	End          time.Time    `json:"end"`
	Status       Status       `json:"status"`
	Reason       string       `json:"reason,omitempty"`
	Version      int64        `json:"-"`                      // machine state version that carries the latest change
	AppliedAt    time.Time    `json:"applied_at,omitzero"`    // when the agent confirmed it
	ApplyLatency Duration     `json:"apply_latency,omitzero"` // from request (or approval) to confirmation
	Terminate    bool         `json:"terminate,omitempty"`    // revoked with --terminate: cut established flows
	TerminatedAt time.Time    `json:"terminated_at,omitzero"`
	Usage        *Usage       `json:"usage,omitempty"` // traffic counted while open; nil until the agent reports (JSON also has "used": see MarshalJSON)
}

// AggregateStatus summarises target statuses into the request's status: the
// earliest open state if any target is still open, the common state if all
// agree, else the most notable ending (failed, revoked, expired, denied).
func AggregateStatus(ts []Target) Status {
	has := map[Status]bool{}
	for _, t := range ts {
		has[t.Status] = true
	}
	for _, s := range []Status{StatusPending, StatusApproved, StatusApplying, StatusActive, StatusFailed, StatusRevoked, StatusExpired, StatusDenied} {
		if has[s] {
			return s
		}
	}
	return StatusFailed
}

// Granted reports whether the target is a grant at now: applying or
// active, before its end.
func (t *Target) Granted(now time.Time) bool {
	return t.Status.Granted() && now.Before(t.End)
}

// Expire marks the target expired if it is applying or active and its end
// time has come. It reports whether anything changed.
func (t *Target) Expire(now time.Time) bool {
	if t.Status.Granted() && !now.Before(t.End) {
		t.Status, t.Reason = StatusExpired, "end time reached"
		return true
	}
	return false
}

// Revoke ends an open target early. It reports whether anything changed.
func (t *Target) Revoke(reason string, terminate bool) bool {
	if !t.Status.Open() {
		return false
	}
	t.Status, t.Reason = StatusRevoked, reason
	t.Terminate = terminate
	return true
}

// Applied marks an applying target active when the agent confirmed a state
// version that carries it. It reports whether anything changed.
func (t *Target) Applied(version int64, now, requested time.Time) bool {
	if t.Status != StatusApplying || t.Version > version {
		return false
	}
	t.Status, t.Reason = StatusActive, ""
	t.AppliedAt = now
	t.ApplyLatency = Duration(now.Sub(requested))
	return true
}

// Activate moves a pending (or approved) target to applying with its end
// time, once the request's final approval came. It reports whether anything
// changed.
func (t *Target) Activate(end time.Time, version int64) bool {
	if t.Status != StatusPending && t.Status != StatusApproved {
		return false
	}
	t.Status, t.Reason, t.End, t.Version = StatusApplying, "", end, version
	return true
}

// Deny ends a pending target with reason.
func (t *Target) Deny(reason string) bool {
	if t.Status != StatusPending {
		return false
	}
	t.Status, t.Reason = StatusDenied, reason
	return true
}

// ExpirePending ends a pending target whose approval did not come in time.
func (t *Target) ExpirePending(reason string) bool {
	if t.Status != StatusPending {
		return false
	}
	t.Status, t.Reason = StatusExpired, reason
	return true
}

// Fail marks an applying target failed with reason.
func (t *Target) Fail(reason string) bool {
	if t.Status != StatusApplying {
		return false
	}
	t.Status, t.Reason = StatusFailed, reason
	return true
}

// TargetSpec is one port a request asks for, after parsing.
type TargetSpec struct {
	Machine  *Machine
	Port     uint16
	Protocol Protocol     // empty: the rule's protocol
	Source   netip.Prefix // defaults to the caller's address
}

// Limits on request input.
const (
	MaxJustification = 1024
	MaxTargets       = 256
)

// CheckTarget checks one target against the machine's policy: port listed,
// protocol covered, source inside an allowed prefix, duration within the
// rule's maximum. It returns the rule's concrete protocol (the request's, or
// the rule's when the request named none) and an Invalid or Conflict error
// naming field.
func CheckTarget(p *Policy, t TargetSpec, d Duration, field string) (Protocol, error) {
	if p == nil || !p.Enabled {
		return "", &Error{Kind: Conflict, Field: field + ".machine", Message: fmt.Sprintf("machine %s has no enabled JIT policy", t.Machine.Name)}
	}
	if t.Protocol != "" && !t.Protocol.Valid() {
		return "", FieldErrorf(field+".protocol", "protocol must be tcp, udp or any")
	}
	r, ok := p.Rule(t.Port, t.Protocol)
	if !ok {
		return "", FieldErrorf(field+".port", "port %d%s is not in the JIT policy of %s (allowed: %s)", t.Port, protoSuffix(t.Protocol), t.Machine.Name, describeRules(p.Rules))
	}
	if !t.Source.IsValid() {
		return "", FieldErrorf(field+".source", "source is required")
	}
	if !r.AllowsSource(t.Source) {
		return "", FieldErrorf(field+".source", "source %s is outside the allowed sources for port %d (%v)", t.Source, t.Port, r.AllowedSources)
	}
	if d > r.MaxDuration {
		return "", FieldErrorf("duration", "duration %s exceeds the maximum of %s for port %d on %s", d, r.MaxDuration, t.Port, t.Machine.Name)
	}
	proto := t.Protocol
	if proto == "" {
		proto = r.Protocol
	}
	return proto, nil
}

// CheckDuration checks a request's duration against the absolute bounds.
func CheckDuration(d Duration, serverCap time.Duration) error {
	if d.Std() < MinDuration {
		return FieldErrorf("duration", "duration must be at least %s", Duration(MinDuration))
	}
	if d.Std() > serverCap {
		return FieldErrorf("duration", "duration %s exceeds the server's maximum of %s", d, Duration(serverCap))
	}
	return nil
}

// CheckJustification checks a justification as CheckText does: at most
// MaxJustification bytes of valid UTF-8 without control characters.
func CheckJustification(s string) error {
	return CheckText("justification", s, MaxJustification)
}

func protoSuffix(p Protocol) string {
	if p == "" {
		return ""
	}
	return "/" + string(p)
}

func describeRules(rs []PortRule) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d/%s", r.Port, r.Protocol)
	}
	return s
}

// RequestInput is an access request as the API receives it.
type RequestInput struct {
	Targets       []MachineTargets `json:"targets"`
	Source        string           `json:"source,omitempty"`   // IP or CIDR; default: the caller's address
	Duration      string           `json:"duration,omitempty"` // ISO 8601 or Go style; default: 1h capped by the rules
	Justification string           `json:"justification,omitempty"`
}

// MachineTargets is one machine and the ports asked for on it.
type MachineTargets struct {
	Machine string       `json:"machine"` // name or ID
	Ports   []PortTarget `json:"ports"`
}

// PortTarget is one port asked for; Source overrides the request's.
type PortTarget struct {
	Port     uint16   `json:"port"`
	Protocol Protocol `json:"protocol,omitempty"`
	Source   string   `json:"source,omitempty"`
}

// RevokeInput ends a request early.
type RevokeInput struct {
	Terminate bool   `json:"terminate,omitempty"` // also cut established flows
	Reason    string `json:"reason,omitempty"`
}

// DryRunResult is what a request would open, without opening anything.
type DryRunResult struct {
	Targets       []Target     `json:"targets"`
	Duration      Duration     `json:"duration"`
	End           time.Time    `json:"end,omitzero"` // when it would close (automatic approval)
	NeedsApproval bool         `json:"needs_approval"`
	Approval      ApprovalRule `json:"approval"`
}

// PlanMachine is what PlanRequest needs to know of one machine a request
// asks for, loaded by the caller.
type PlanMachine struct {
	Machine *Machine // nil when Err is set
	// Err is why the machine could not be found (NotFound, or an Invalid
	// reference): PlanRequest reports it in the order of the input.
	Err    error
	Policy *Policy // the machine's effective policy; nil: none
	// Open counts the open targets the requester's person holds on the
	// machine now; needed only when Policy limits them (MaxActivePerUser).
	Open int
}

// PlanConfig is the server's bounds on request durations.
type PlanConfig struct {
	ServerCap       time.Duration // longest duration anyone may ask for
	DefaultDuration time.Duration // duration when none is given, capped by the rules
}

// Plan is a request checked against every policy it touches: what
// PlanRequest decided.
type Plan struct {
	Machines []PlannedMachine
	Duration Duration
	Approval ApprovalRule
	// Status is the status the request and its targets start with:
	// pending (manual approval) or applying.
	Status       Status
	Start, End   time.Time // applying: the access window, from now
	PendingUntil time.Time // pending: the approval deadline
}

// PlannedMachine is one machine of a Plan and the ports asked for on it.
type PlannedMachine struct {
	Machine   *Machine
	Policy    *Policy
	Specs     []TargetSpec
	Protocols []Protocol // the concrete protocol of each of Specs
}

// PlanRequest decides whether a may create request in: a may initiate on
// every machine, each machine's effective policy is enabled and covers
// every port and source, the duration fits every rule, the justification
// and limits of every policy hold. It is the one place that authorizes
// creating a request (control checks a.AllowedSomewhere before loading
// anything only to fail early, with the same error). ms holds what the
// caller loaded for in.Targets, at the same index; it may stop after
// MaxTargets+1 entries, as PlanRequest refuses a request before reading
// further (every target has a port, and MaxTargets ports is the most). It
// returns the targets, the duration, the approval needed and, from now, the
// status and times the request starts with. Errors name the field
// (Invalid, Forbidden, NotFound, Conflict).
func PlanRequest(a Actor, in RequestInput, ms []PlanMachine, cfg PlanConfig, now time.Time) (*Plan, error) {
	if !a.AllowedSomewhere(ActRequestsInitiate) {
		return nil, mayNot(a, ActRequestsInitiate)
	}
	if len(in.Targets) == 0 {
		return nil, FieldErrorf("targets", "at least one machine is required")
	}
	if err := CheckJustification(in.Justification); err != nil {
		return nil, err
	}
	var defaultSource netip.Prefix
	if in.Source != "" {
		p, err := ParseSource(in.Source)
		if err != nil {
			return nil, FieldErrorf("source", "%v", err)
		}
		defaultSource = p
	} else if a.Source.IsValid() {
		defaultSource = netip.PrefixFrom(a.Source.Unmap(), a.Source.Unmap().BitLen())
	}
	pl := &Plan{}
	maxAllowed := Duration(cfg.ServerCap)
	seen := map[MachineID]bool{}
	count := 0
	var rules []ApprovalRule
	for i, mt := range in.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		if i >= len(ms) {
			return nil, Errorf(Internal, "plan request: %d machines loaded for %d targets", len(ms), len(in.Targets))
		}
		m, err := ms[i].Machine, ms[i].Err
		if err != nil {
			if e := AsError(err); e != nil && e.Field != "" {
				return nil, WithField(err, field) // the lookup names its field "machine" already
			}
			return nil, WithField(err, field+".machine")
		}
		if err := Authorize(a, ActRequestsInitiate, m, mt.Machine); err != nil {
			// authorize names its NotFound "machine" already: replace, not prefix.
			e := *AsError(err)
			e.Field = field + ".machine"
			return nil, &e
		}
		if seen[m.ID] {
			return nil, FieldErrorf(field+".machine", "machine %s is listed twice", m.Name)
		}
		seen[m.ID] = true
		p := ms[i].Policy
		if p == nil || !p.Enabled {
			// Checked here, not only in CheckTarget, so the field is the
			// machine's ("targets[0].machine"), not a port's.
			return nil, &Error{Kind: Conflict, Field: field + ".machine", Message: fmt.Sprintf("machine %s has no enabled JIT policy", m.Name)}
		}
		if err := m.CheckSupported("request access"); err != nil {
			return nil, WithField(err, field+".machine") // an offline machine is fine: it applies on return
		}
		if err := p.Justification.Check(in.Justification); err != nil {
			return nil, err
		}
		if len(mt.Ports) == 0 {
			return nil, FieldErrorf(field+".ports", "at least one port is required")
		}
		pm := PlannedMachine{Machine: m, Policy: p}
		var srcs []netip.Prefix
		for j, pt := range mt.Ports {
			pfield := fmt.Sprintf("%s.ports[%d]", field, j)
			if count++; count > MaxTargets {
				return nil, FieldErrorf("targets", "at most %d ports per request", MaxTargets)
			}
			src := defaultSource
			if pt.Source != "" {
				if src, err = ParseSource(pt.Source); err != nil {
					return nil, FieldErrorf(pfield+".source", "%v", err)
				}
			}
			if !src.IsValid() {
				return nil, FieldErrorf(pfield+".source", "source is required (the server could not tell the caller's address)")
			}
			if pt.Port == 0 {
				return nil, FieldErrorf(pfield+".port", "port must be from 1 to 65535")
			}
			spec := TargetSpec{Machine: m, Port: pt.Port, Protocol: pt.Protocol, Source: src}
			proto, err := CheckTarget(p, spec, 0, pfield)
			if err != nil {
				return nil, err
			}
			if p.Limits.DenyAnySource {
				// Counted over every source asked for on this machine, so
				// that two halves cannot add up to the whole.
				srcs = append(srcs, src)
				if wide, why := WideSources(srcs); wide {
					return nil, FieldErrorf(pfield+".source", "the policy of %s refuses wide sources: %s; ask for your own address or a narrow range", m.Name, why)
				}
			}
			rule, _ := p.Rule(pt.Port, proto)
			maxAllowed = min(maxAllowed, rule.MaxDuration)
			for k, prev := range pm.Specs {
				if prev.Port == spec.Port && prev.Source == spec.Source && (pm.Protocols[k].Covers(proto) || proto.Covers(pm.Protocols[k])) {
					return nil, FieldErrorf(pfield+".port", "port %d is listed twice for %s", pt.Port, m.Name)
				}
			}
			pm.Specs = append(pm.Specs, spec)
			pm.Protocols = append(pm.Protocols, proto)
		}
		if lim := p.Limits.MaxActivePerUser; lim > 0 {
			n := ms[i].Open
			if n+len(pm.Specs) > lim {
				return nil, &Error{Kind: Conflict, Field: field + ".machine", Message: fmt.Sprintf("the policy of %s allows %d open grant(s) per person; you hold %d", m.Name, lim, n)}
			}
		}
		rules = append(rules, p.Approval)
		pl.Machines = append(pl.Machines, pm)
	}
	pl.Duration = Duration(min(cfg.DefaultDuration, maxAllowed.Std()))
	if in.Duration != "" {
		dur, err := ParseDuration(in.Duration)
		if err != nil {
			return nil, FieldErrorf("duration", "%v", err)
		}
		if err := CheckDuration(dur, cfg.ServerCap); err != nil {
			return nil, err
		}
		if dur > maxAllowed {
			return nil, FieldErrorf("duration", "duration %s exceeds the policy's maximum of %s for the ports asked for", dur, maxAllowed)
		}
		pl.Duration = dur
	}
	pl.Approval = CombineApproval(rules)
	pl.Status = StatusApplying
	if pl.Approval.Manual() {
		pl.Status = StatusPending
		pl.PendingUntil = now.Add(pl.Approval.PendingTTL.Std())
	} else {
		pl.Start, pl.End = now, now.Add(pl.Duration.Std())
	}
	return pl, nil
}
