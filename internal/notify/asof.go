package notify

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// AsOf returns request r as it was right after the last of history, its
// audit events in ID order (the request's own events, up to the one a
// notification reports). The dispatcher reads a request later than its
// events happened, possibly after several more: a request.approval_needed
// notification must not carry the request already denied. AsOf replays the
// events over the request's first state, as its request.created event
// recorded it, and keeps from r only what does not change (targets, sources,
// approval rule) and what the events do not carry (apply latencies, usage of
// ended grants). Decisions after the last event are dropped. Without the
// request.created event (pruned from the log) there is nothing to replay
// from, and r is returned as it is. AsOf is pure; r is not changed.
func AsOf(r *d.Request, history []d.Event) *d.Request {
	if r == nil || len(history) == 0 || history[0].Action != d.EvRequestCreated {
		return r
	}
	at := history[len(history)-1].Time
	c := *r
	c.Targets = slices.Clone(r.Targets)
	c.Approvals = nil
	for _, a := range r.Approvals {
		if !a.Time.After(at) {
			c.Approvals = append(c.Approvals, a)
		}
	}
	c.ExtendBy = 0
	final := map[d.TargetID]d.Target{}
	for _, t := range r.Targets {
		final[t.ID] = t
	}
	// The first state: pending, or granted at creation.
	if r.Approval.Manual() {
		c.Start, c.End, c.PendingUntil = time.Time{}, time.Time{}, r.CreatedAt.Add(r.Approval.PendingTTL.Std())
	} else {
		c.Start, c.End, c.PendingUntil = r.CreatedAt, r.CreatedAt.Add(r.Duration.Std()), time.Time{}
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		t.AppliedAt, t.ApplyLatency, t.Usage, t.Terminate, t.TerminatedAt = time.Time{}, 0, nil, false, time.Time{}
		t.End = c.End
		if r.Approval.Manual() {
			t.Status, t.Reason = d.StatusPending, "waiting for approval"
		} else {
			t.Status, t.Reason = d.StatusApplying, ""
		}
	}
	// end moves the targets in a from status (all of them when the event is
	// about the request, else the one it names) to status.
	end := func(e d.Event, from func(d.Status) bool, status d.Status, reason string) {
		for i := range c.Targets {
			t := &c.Targets[i]
			if !from(t.Status) || (strings.HasPrefix(e.Target, d.TargetPrefix) && string(t.ID) != e.Target) {
				continue
			}
			t.Status, t.Reason = status, reason
			if f := final[t.ID]; f.Status == status && f.Reason != "" {
				t.Reason = f.Reason // the record's own wording
			}
			if status == d.StatusRevoked {
				t.Terminate = final[t.ID].Terminate
			}
			if status != d.StatusActive && !t.AppliedAt.IsZero() {
				t.Usage = final[t.ID].Usage // counted up to its end
			}
		}
	}
	is := func(ss ...d.Status) func(d.Status) bool {
		return func(s d.Status) bool { return slices.Contains(ss, s) }
	}
	for _, e := range history {
		if e.Result != d.ResultSuccess && e.Action != d.EvRequestFailed {
			continue // a refused attempt changed nothing
		}
		var det struct {
			Kind  string     `json:"kind"`
			By    d.Duration `json:"by"`
			End   time.Time  `json:"end"`
			Waits bool       `json:"waits_for_approval"`
		}
		if e.Details != "" {
			_ = json.Unmarshal([]byte(e.Details), &det) // best effort: an old event may lack a field
		}
		switch e.Action {
		case d.EvRequestApproved:
			if det.Kind != d.ApprovalForExtension && c.Start.IsZero() {
				var so []d.Approval
				for _, a := range c.Approvals {
					if !a.Time.After(e.Time) {
						so = append(so, a)
					}
				}
				if d.Progress(r.Approval, so, d.ApprovalForRequest).Final {
					c.Start, c.End, c.PendingUntil = e.Time, e.Time.Add(r.Duration.Std()), time.Time{}
					for i := range c.Targets {
						if t := &c.Targets[i]; t.Status == d.StatusPending {
							t.Status, t.Reason, t.End = d.StatusApplying, "", c.End
						}
					}
				}
			}
		case d.EvRequestDenied:
			if det.Kind == d.ApprovalForExtension {
				c.ExtendBy = 0
				break
			}
			end(e, is(d.StatusPending), d.StatusDenied, "denied by "+e.ActorName+": "+e.Reason)
			c.PendingUntil = time.Time{}
		case d.EvRequestExtended:
			switch {
			case det.Waits:
				c.ExtendBy = det.By
			case !det.End.IsZero():
				c.End, c.ExtendBy = det.End, 0
				for i := range c.Targets {
					if t := &c.Targets[i]; t.Status.Granted() {
						t.End = det.End
					}
				}
			}
		case d.EvRequestApplied:
			for i := range c.Targets {
				if t := &c.Targets[i]; string(t.ID) == e.Target && t.Status == d.StatusApplying {
					t.Status, t.Reason = d.StatusActive, ""
					t.AppliedAt, t.ApplyLatency = e.Time, final[t.ID].ApplyLatency
				}
			}
		case d.EvRequestExpired:
			if strings.HasPrefix(e.Target, d.TargetPrefix) {
				end(e, d.Status.Granted, d.StatusExpired, "end time reached")
			} else {
				end(e, is(d.WaitingStatuses...), d.StatusExpired, e.Reason)
				c.PendingUntil = time.Time{}
			}
		case d.EvRequestRevoked, d.EvRequestDone:
			end(e, d.Status.Open, d.StatusRevoked, e.Reason)
			c.ExtendBy = 0
		case d.EvRequestFailed:
			end(e, is(d.StatusApplying), d.StatusFailed, e.Reason)
		case d.EvRequestTerminated:
			for i := range c.Targets {
				if t := &c.Targets[i]; string(t.ID) == e.Target {
					t.Terminate, t.TerminatedAt = true, e.Time
				}
			}
		}
	}
	c.Status = d.AggregateStatus(c.Targets)
	return &c
}
