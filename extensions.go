package drawbridge

import (
	"fmt"
	"slices"
	"time"
)

// ExtendInput asks for more time on an active request.
type ExtendInput struct {
	By     string `json:"by"` // e.g. 30m
	Reason string `json:"reason,omitempty"`
}

// CheckExtension decides whether a may extend r by by now, given the
// machines of r's targets that still exist (ms), whether any was deleted
// since, and the effective policy of each of ms (nil: none). Only the
// requester may, and only while it may still ask for access on every
// machine (more time is a new grant of access); some access must be open
// and no other extension waiting; and the new end must fit (ExtensionFits).
// It reports whether the extension needs approval again (the request was
// created under manual approval whose extensions are not automatic).
// Errors: Forbidden, Conflict, or Invalid naming "by".
func CheckExtension(a Actor, r *Request, by Duration, ms []*Machine, deleted bool, policies map[MachineID]*Policy, serverCap time.Duration, now time.Time) (needsApproval bool, err error) {
	if r.Requester != a.Subject() {
		return false, &Error{Kind: Forbidden, Message: "only the requester can extend a request"}
	}
	if deleted || slices.ContainsFunc(ms, func(m *Machine) bool { return !a.Allowed(ActRequestsInitiate, m) }) {
		return false, mayNot(a, ActRequestsInitiate)
	}
	open := 0
	for _, t := range r.Targets {
		if t.Granted(now) {
			open++
		}
	}
	if open == 0 {
		return false, &Error{Kind: Conflict, Message: fmt.Sprintf("request %s is %s; only open access can be extended", r.ID, AggregateStatus(r.Targets))}
	}
	if r.ExtendBy > 0 {
		return false, &Error{Kind: Conflict, Message: fmt.Sprintf("request %s already has an extension of %s waiting for approval", r.ID, r.ExtendBy)}
	}
	if err := ExtensionFits(r, by, policies, serverCap); err != nil {
		return false, err
	}
	return r.Approval.Manual() && r.Approval.Extensions != ApprovalAuto, nil
}

// ExtensionFits checks that extending r by by keeps every applying or
// active target within its rule's maximum counted from the original start,
// and within serverCap, under policies (the effective policy of each
// machine of r; nil: none). Checked again when an extension is finally
// approved: the policy may have been tightened while it waited. Errors:
// Conflict naming the target whose port left its policy, Invalid naming
// "by", NotFound for a machine missing from policies.
func ExtensionFits(r *Request, by Duration, policies map[MachineID]*Policy, serverCap time.Duration) error {
	newEnd := r.End.Add(by.Std())
	for i, t := range r.Targets {
		if !t.Status.Granted() {
			continue
		}
		p, ok := policies[t.MachineID]
		if !ok {
			return Errorf(NotFound, "machine %s not found", t.MachineID)
		}
		rule, ok := PortRule{}, false
		if p != nil && p.Enabled {
			rule, ok = p.Rule(t.Port, t.Protocol)
		}
		if !ok {
			return &Error{Kind: Conflict, Field: fmt.Sprintf("targets[%d]", i), Message: fmt.Sprintf("port %d/%s on %s is no longer in its JIT policy", t.Port, t.Protocol, t.MachineName)}
		}
		if total := newEnd.Sub(r.Start); total > rule.MaxDuration.Std() || total > serverCap {
			return FieldErrorf("by", "extending by %s makes %s from the start, over the maximum of %s for port %d on %s", by, Duration(total.Round(time.Second)), rule.MaxDuration, t.Port, t.MachineName)
		}
	}
	return nil
}
