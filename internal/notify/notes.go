package notify

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Note is a notification to queue, derived from audit events: its kind, the
// event it reports (the first, when several were coalesced) and, for kinds
// recorded per target, the targets concerned.
type Note struct {
	Kind      d.NotificationKind
	Event     d.Event
	TargetIDs []d.TargetID
}

// kindOf maps an audit action to a notification kind; "" for actions that
// notify nothing.
var kindOf = map[string]d.NotificationKind{
	d.EvRequestCreated:  d.NotifyCreated,
	d.EvRequestApproved: d.NotifyApproved,
	d.EvRequestDenied:   d.NotifyDenied,
	d.EvRequestApplied:  d.NotifyActive,
	d.EvRequestExpired:  d.NotifyExpired,
	d.EvRequestRevoked:  d.NotifyRevoked,
	d.EvRequestDone:     d.NotifyRevoked, // ended early by the requester: the request is revoked
	d.EvRequestFailed:   d.NotifyFailed,
}

// Notes maps events, in ID order, to the notifications they cause:
//
//   - request.created: request.created, and request.approval_needed when
//     its details say needs_approval;
//   - request.approved, .denied, .expired, .revoked and .failed: the same
//     name; request.done: request.revoked; request.applied: request.active;
//   - refusals (result failure, other than request.failed) and every other
//     action: nothing.
//
// Per-target events of one request and kind (a sweep that expires three
// ports, an agent that applies two) coalesce into one Note listing the
// targets. Notes is pure.
func Notes(es []d.Event) []Note {
	var out []Note
	at := map[string]int{} // kind + request → index in out, for coalescing
	for _, e := range es {
		k, ok := kindOf[e.Action]
		if !ok || (e.Result != d.ResultSuccess && e.Action != d.EvRequestFailed) {
			continue
		}
		var tgt []d.TargetID
		if strings.HasPrefix(e.Target, d.TargetPrefix) {
			tgt = []d.TargetID{d.TargetID(e.Target)}
		}
		if len(tgt) > 0 && e.RequestID != "" {
			key := string(k) + " " + string(e.RequestID)
			if i, ok := at[key]; ok {
				if !slices.Contains(out[i].TargetIDs, tgt[0]) {
					out[i].TargetIDs = append(out[i].TargetIDs, tgt[0])
				}
				continue
			}
			at[key] = len(out)
		}
		out = append(out, Note{Kind: k, Event: e, TargetIDs: tgt})
		if k == d.NotifyCreated && needsApproval(e.Details) {
			out = append(out, Note{Kind: d.NotifyApprovalNeeded, Event: e})
		}
	}
	return out
}

func needsApproval(details string) bool {
	var v struct {
		NeedsApproval bool `json:"needs_approval"`
	}
	return details != "" && json.Unmarshal([]byte(details), &v) == nil && v.NeedsApproval
}

// Notification builds the body of n, with r the request as it is now (nil
// if unknown).
func (n Note) Notification(r *d.Request) d.Notification {
	e := n.Event
	out := d.Notification{
		Kind: n.Kind, Time: e.Time, EventID: e.ID, Actor: e.Actor, ActorName: e.ActorName,
		Reason: e.Reason, TargetIDs: n.TargetIDs, Request: r,
	}
	if e.Details != "" && json.Valid([]byte(e.Details)) {
		out.Details = json.RawMessage(e.Details)
	}
	return out
}

// Expiring builds the request.expiring notification of r at now.
func Expiring(r *d.Request, now time.Time) d.Notification {
	left := r.End.Sub(now).Round(time.Second)
	details, _ := json.Marshal(map[string]any{"end": r.End, "remaining": d.Duration(left)})
	return d.Notification{
		Kind: d.NotifyExpiring, Time: now, Actor: d.SystemActor.Subject(), ActorName: d.SystemActor.Name,
		Reason: "ends in " + d.Duration(left).String(), Details: details, Request: r,
	}
}

// Backoff returns how long to wait after the attempts-th failed attempt
// (1 for the first): exponential from base, capped at ceiling, with jitter
// r in [0, 1] spreading it over the upper half, so receivers coming back
// from an outage are not hit by every sender at once. Backoff is pure.
func Backoff(attempts int, base, ceiling time.Duration, r float64) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	c := ceiling
	if attempts-1 < 32 && base<<(attempts-1) > 0 {
		c = min(base<<(attempts-1), ceiling)
	}
	r = min(max(r, 0), 1)
	return c/2 + time.Duration(r*float64(c/2))
}
