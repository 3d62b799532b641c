package drawbridge

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// ApprovalMode says whether requests need a person's approval.
type ApprovalMode string

// Approval modes.
const (
	ApprovalAuto   ApprovalMode = "auto"   // the permission to request is the approval (Azure's behaviour)
	ApprovalManual ApprovalMode = "manual" // approvers must approve, by quorum, level by level
)

// DefaultPendingTTL is how long a request may wait for approval.
const DefaultPendingTTL = time.Hour

// ApprovalRule is a policy's approval requirement.
type ApprovalRule struct {
	Mode       ApprovalMode    `json:"mode"`
	Levels     []ApprovalLevel `json:"levels,omitempty"`      // manual: one or two levels, in order
	PendingTTL Duration        `json:"pending_ttl,omitempty"` // manual: then the request expires (default 1h)
	Extensions ApprovalMode    `json:"extensions,omitempty"`  // manual: do extensions need approval again (default manual)
}

// ApprovalLevel is one level of approval: Quorum distinct approvers, each
// matching one of Approvers ("role:<role>", "group:<name>", "user:<name>",
// "token:<ID>"); empty Approvers means anyone who may approve requests on
// the machines.
type ApprovalLevel struct {
	Quorum    int      `json:"quorum"`
	Approvers []string `json:"approvers,omitempty"`
}

// Manual reports whether the rule needs approval.
func (r ApprovalRule) Manual() bool { return r.Mode == ApprovalManual }

var approverRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(role|group|user):[^\s,]{1,256}$|^token:tok_[a-z0-9]{8,40}$`)
})

// NormalizeApproval validates a rule and fills defaults. Errors name
// fields under "approval".
func NormalizeApproval(r ApprovalRule, serverCap time.Duration) (ApprovalRule, error) {
	switch r.Mode {
	case "", ApprovalAuto:
		return ApprovalRule{Mode: ApprovalAuto}, nil
	case ApprovalManual:
	default:
		return r, FieldErrorf("approval.mode", "approval mode must be auto or manual")
	}
	if len(r.Levels) == 0 {
		r.Levels = []ApprovalLevel{{Quorum: 1}}
	}
	if len(r.Levels) > 2 {
		return r, FieldErrorf("approval.levels", "at most two approval levels")
	}
	for i := range r.Levels {
		l := &r.Levels[i]
		f := fmt.Sprintf("approval.levels[%d]", i)
		if l.Quorum == 0 {
			l.Quorum = 1
		}
		if l.Quorum < 1 || l.Quorum > 10 {
			return r, FieldErrorf(f+".quorum", "quorum must be from 1 to 10")
		}
		for j, a := range l.Approvers {
			field := fmt.Sprintf("%s.approvers[%d]", f, j)
			if err := CheckText(field, a, 300); err != nil {
				return r, err
			}
			if !approverRE().MatchString(a) {
				return r, FieldErrorf(field, "approver %s: want role:<role>, group:<name>, user:<name> or token:<ID>", Excerpt(a))
			}
		}
	}
	if r.PendingTTL == 0 {
		r.PendingTTL = Duration(DefaultPendingTTL)
	}
	if r.PendingTTL.Std() < time.Minute || r.PendingTTL.Std() > min(serverCap, 7*24*time.Hour) {
		return r, FieldErrorf("approval.pending_ttl", "pending TTL must be from 1m to %s", Duration(min(serverCap, 7*24*time.Hour)))
	}
	switch r.Extensions {
	case "":
		r.Extensions = ApprovalManual
	case ApprovalAuto, ApprovalManual:
	default:
		return r, FieldErrorf("approval.extensions", "extensions must be auto or manual")
	}
	return r, nil
}

// CombineApproval merges the rules of every policy a request touches: the
// request needs approval if any does; per level the largest quorum; an
// approver must match every policy's approver list at that level; the
// shortest pending TTL.
func CombineApproval(rules []ApprovalRule) ApprovalRule {
	out := ApprovalRule{Mode: ApprovalAuto, Extensions: ApprovalAuto}
	for _, r := range rules {
		if !r.Manual() {
			continue
		}
		if !out.Manual() {
			out = ApprovalRule{Mode: ApprovalManual, PendingTTL: r.PendingTTL, Extensions: r.Extensions}
		}
		out.PendingTTL = min(out.PendingTTL, r.PendingTTL)
		if r.Extensions == ApprovalManual {
			out.Extensions = ApprovalManual
		}
		for i, l := range r.Levels {
			if i >= len(out.Levels) {
				out.Levels = append(out.Levels, ApprovalLevel{})
			}
			o := &out.Levels[i]
			o.Quorum = max(o.Quorum, l.Quorum)
			if len(l.Approvers) > 0 {
				// Each policy's list must be satisfied: keep them as one
				// list per policy (entries joined by "|") so Eligible can check all.
				o.Approvers = append(o.Approvers, strings.Join(l.Approvers, "|"))
			}
		}
	}
	return out
}

// Approval is one decision on a request or on its pending extension.
type Approval struct {
	Approver       string    `json:"approver"` // subject
	ApproverName   string    `json:"approver_name"`
	ApproverPerson string    `json:"approver_person,omitempty"` // the person behind Approver, when it differs (a token's owner)
	Kind           string    `json:"kind"`                      // "request" or "extension"
	Level          int       `json:"level"`
	Decision       string    `json:"decision"` // "approve" or "deny"
	Reason         string    `json:"reason,omitempty"`
	Time           time.Time `json:"time"`
}

// Person returns the person who decided: ApproverPerson, or Approver for
// decisions recorded before owners were.
func (a Approval) Person() string {
	if a.ApproverPerson != "" {
		return a.ApproverPerson
	}
	return a.Approver
}

// Approval kinds and decisions.
const (
	ApprovalForRequest   = "request"
	ApprovalForExtension = "extension"
	DecisionApprove      = "approve"
	DecisionDeny         = "deny"
)

// Eligible reports whether actor a matches a level's approver lists for a
// request on machines ms (every list must be matched by one of its
// entries; no lists: anyone). A "role:" entry counts only for a grant of
// that role whose scope covers every one of the machines: an approver for
// one machine is not an approver for another.
func (l ApprovalLevel) Eligible(a Actor, ms []*Machine) bool {
	for _, list := range l.Approvers {
		ok := false
		for _, who := range strings.Split(list, "|") {
			if matchesApprover(a, who, ms) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchesApprover(a Actor, who string, ms []*Machine) bool {
	if role, ok := strings.CutPrefix(who, "role:"); ok {
		return slices.ContainsFunc(a.RoleGrants, func(g RoleGrant) bool {
			if string(g.Role) != role {
				return false
			}
			for _, m := range ms {
				if !g.Scope.Matches(m) {
					return false
				}
			}
			return true
		})
	}
	return slices.Contains(a.Subjects(), who)
}

// ApprovalProgress is where a request stands in its approval.
type ApprovalProgress struct {
	Level    int  // the level now collecting approvals (0-based); len(Levels) when done
	Have     int  // approvals at that level
	Final    bool // every level reached its quorum
	Denied   bool
	Approved []string // subjects who approved, at any level
}

// Progress evaluates the approvals of kind on rule. A quorum counts
// distinct persons: two approvals by one person (say, through two tokens
// with one owner) count once.
func Progress(rule ApprovalRule, approvals []Approval, kind string) ApprovalProgress {
	var p ApprovalProgress
	counts := make([]int, len(rule.Levels))
	counted := map[string]bool{}
	for _, a := range approvals {
		if a.Kind != kind {
			continue
		}
		if a.Decision == DecisionDeny {
			p.Denied = true
			continue
		}
		if a.Level < len(counts) && !counted[a.Person()] {
			counted[a.Person()] = true
			counts[a.Level]++
		}
		p.Approved = append(p.Approved, a.Approver)
	}
	for p.Level = 0; p.Level < len(rule.Levels); p.Level++ {
		if counts[p.Level] < rule.Levels[p.Level].Quorum {
			p.Have = counts[p.Level]
			return p
		}
	}
	p.Final = true
	return p
}

// Round returns the decisions of kind that count now. A request is decided
// once, so all its decisions count. An extension may be asked for again
// once the last one was approved or denied, and each is decided afresh:
// only the decisions since the last finished round (quorum reached, or a
// denial) count.
func Round(rule ApprovalRule, approvals []Approval, kind string) []Approval {
	var cur []Approval
	for _, a := range approvals {
		if a.Kind != kind {
			continue
		}
		cur = append(cur, a)
		if kind == ApprovalForExtension && (a.Decision == DecisionDeny || Progress(rule, cur, kind).Final) {
			cur = nil
		}
	}
	return cur
}

// JustificationMode says whether a justification is needed.
type JustificationMode string

// Justification modes.
const (
	JustificationOptional JustificationMode = "optional"
	JustificationRequired JustificationMode = "required"
	JustificationPattern  JustificationMode = "pattern" // required and must match Pattern
)

// JustificationRule is a policy's justification requirement.
type JustificationRule struct {
	Mode    JustificationMode `json:"mode"`
	Pattern string            `json:"pattern,omitempty"` // RE2, e.g. ^INC-[0-9]+
	Hint    string            `json:"hint,omitempty"`    // shown to requesters, e.g. "an incident ticket, INC-1234"
}

// NormalizeJustification validates a rule and fills defaults.
func NormalizeJustification(r JustificationRule) (JustificationRule, error) {
	switch r.Mode {
	case "":
		r.Mode = JustificationOptional
	case JustificationOptional, JustificationRequired:
	case JustificationPattern:
		if r.Pattern == "" || len(r.Pattern) > 256 {
			return r, FieldErrorf("justification.pattern", "a pattern of 1–256 characters is required")
		}
		if err := CheckText("justification.pattern", r.Pattern, 256); err != nil {
			return r, err
		}
		if _, err := regexp.Compile(r.Pattern); err != nil {
			return r, FieldErrorf("justification.pattern", "invalid pattern: %v", err)
		}
	default:
		return r, FieldErrorf("justification.mode", "justification mode must be optional, required or pattern")
	}
	if r.Mode != JustificationPattern {
		r.Pattern = ""
	}
	if err := CheckText("justification.hint", r.Hint, 256); err != nil {
		return r, err
	}
	return r, nil
}

// Check checks a justification against the rule; the error carries the hint.
func (r JustificationRule) Check(s string) error {
	hint := ""
	if r.Hint != "" {
		hint = " (" + r.Hint + ")"
	}
	switch r.Mode {
	case JustificationRequired:
		if strings.TrimSpace(s) == "" {
			return FieldErrorf("justification", "a justification is required%s", hint)
		}
	case JustificationPattern:
		re, err := regexp.Compile(r.Pattern)
		if err != nil || !re.MatchString(s) {
			return FieldErrorf("justification", "justification must match %s%s", r.Pattern, hint)
		}
	}
	return nil
}

// Limits are a policy's guardrails on requests.
type Limits struct {
	MaxActivePerUser int  `json:"max_active_per_user,omitempty"` // open grants one requester may hold on the machine; 0: no limit
	DenyAnySource    bool `json:"deny_any_source,omitempty"`     // refuse "*" in allowed sources, and sources that together cover more than a /16 or a /48 (WideSources)
}

// NormalizeLimits validates limits.
func NormalizeLimits(l Limits) (Limits, error) {
	if l.MaxActivePerUser < 0 || l.MaxActivePerUser > 10000 {
		return l, FieldErrorf("limits.max_active_per_user", "must be from 0 (no limit) to 10000")
	}
	return l, nil
}

// DecisionInput approves or denies a request (or its pending extension).
type DecisionInput struct {
	Reason string `json:"reason,omitempty"` // required to deny
}

// MayDecide decides whether actor a may approve or deny r now, given the
// machines of r's targets that still exist (ms) and whether any was deleted
// since. It is the one place that authorizes a decision: r still waits for
// one (a pending request in time, or an open request's pending extension),
// a is not the requester's person (no self-approval), a may approve on
// every machine of r, a has not decided in this round already, and a
// matches the approver lists of the level now collecting approvals. It
// returns the kind of decision (ApprovalForRequest or ApprovalForExtension)
// and the level it counts for, or a Conflict (nothing waits for a decision
// from a) or Forbidden (a may not make it). The caller checks first that a
// may see r (and may check a.AllowedSomewhere(ActRequestsApprove) before
// loading anything, to fail early with the same error).
func MayDecide(a Actor, r *Request, ms []*Machine, deleted bool, now time.Time) (kind string, level int, err error) {
	refuse := func(k Kind, format string, args ...any) *Error {
		return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
	}
	if !a.AllowedSomewhere(ActRequestsApprove) {
		return "", 0, mayNot(a, ActRequestsApprove)
	}
	if r.Status == StatusPending && !r.PendingUntil.IsZero() && !now.Before(r.PendingUntil) {
		return "", 0, refuse(Conflict, "request %s was not approved in time; it expired at %s", r.ID, r.PendingUntil.UTC().Format(time.RFC3339))
	}
	switch {
	case r.Status == StatusPending:
		kind = ApprovalForRequest
	case r.ExtendBy > 0 && r.Status.Granted():
		// An extension counts only while its access is still open.
		kind = ApprovalForExtension
	default:
		return "", 0, refuse(Conflict, "request %s is %s; nothing waits for approval", r.ID, r.Status)
	}
	if r.Requester == a.Subject() || r.Person() == a.Person() {
		return kind, 0, refuse(Forbidden, "no self-approval: another person must decide (this request was made by %s)", r.Person())
	}
	if deleted || slices.ContainsFunc(ms, func(m *Machine) bool { return !a.Allowed(ActRequestsApprove, m) }) {
		return kind, 0, refuse(Forbidden, "you may not approve requests on every machine of this request")
	}
	rule := r.DecisionRule(kind)
	round := Round(rule, r.Approvals, kind)
	for _, x := range round {
		if slices.Contains(a.Subjects(), x.Approver) || x.Person() == a.Person() {
			// One person is one approver, however many tokens they hold.
			return kind, 0, refuse(Conflict, "%s has already decided on this request (as %s); a quorum counts distinct people", a.Person(), x.Approver)
		}
	}
	p := Progress(rule, round, kind)
	if p.Final || p.Level >= len(rule.Levels) {
		return kind, 0, refuse(Conflict, "already approved")
	}
	if !rule.Levels[p.Level].Eligible(a, ms) {
		return kind, p.Level, refuse(Forbidden, "you are not an approver for level %d (approvers: %s)", p.Level+1, strings.Join(rule.Levels[p.Level].Approvers, " and "))
	}
	return kind, p.Level, nil
}

// DecisionRule is the rule decisions of kind on r follow: an extension of
// a request created without levels needs one approval.
func (r *Request) DecisionRule(kind string) ApprovalRule {
	rule := r.Approval
	if kind == ApprovalForExtension && len(rule.Levels) == 0 {
		rule.Levels = []ApprovalLevel{{Quorum: 1}}
	}
	return rule
}
