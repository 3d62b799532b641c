package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

func newRequestCmd(e *env) *cobra.Command {
	var ports []string
	var duration, source, justification string
	var wait, dryRun bool
	var waitTimeout, approvalTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "request MACHINE [MACHINE...]",
		Short: "Ask for access to ports of one or more machines",
		Long: `Ask for access. The source defaults to your address as the server sees it;
--source may name a single address or a range inside what the policy allows.
With --wait the command returns once every agent has confirmed the rule is in
the kernel, and prints how long that took. When the policy needs approval it
first waits for it (at most --approval-timeout, printing who it waits for), so
'drawbridge request … --wait && ssh …' connects only to an open port. It exits
non-zero, with a message saying which, when the request is denied, expires
unapproved, is not approved in time, fails or is not confirmed in time.`,
		Example: `  drawbridge request web-1 --port 22 --duration 1h --justification "INC-1234" --wait
  drawbridge request web-1 web-2 --port 22 --source 203.0.113.0/28 --duration PT30M
  drawbridge request db-1 --port 5432 --duration 2h --dry-run`,
		Args: cobra.MinimumNArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.Flags().StringSliceVar(&ports, "port", nil, "port to open, PORT[/tcp|udp] (repeatable; required)")
	cmd.Flags().StringVar(&duration, "duration", "", "how long, e.g. 1h or PT1H (default: 1h, or the policy's maximum if lower)")
	cmd.Flags().StringVar(&source, "source", "", "IP or CIDR to open for (default: your address as the server sees it)")
	cmd.Flags().StringVar(&justification, "justification", "", "why you need access")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the ports are open: through approval, then until the agents confirm; exit non-zero if denied, expired, failed or timed out")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would open, for how long, and whether approval is needed; change nothing")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 30*time.Second, "with --wait, how long to wait for the agents to confirm (at most 60s)")
	cmd.Flags().DurationVar(&approvalTimeout, "approval-timeout", 15*time.Minute, "with --wait, how long to wait for approval when the policy needs one")
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		if len(ports) == 0 {
			return fmt.Errorf("give at least one --port, e.g. --port 22")
		}
		var pts []d.PortTarget
		for _, p := range ports {
			n, proto, err := d.ParsePortSpec(p, "")
			if err != nil {
				return fmt.Errorf("--port: %w", err)
			}
			pts = append(pts, d.PortTarget{Port: n, Protocol: proto})
		}
		in := d.RequestInput{Source: source, Duration: duration, Justification: justification}
		for _, m := range args {
			in.Targets = append(in.Targets, d.MachineTargets{Machine: m, Ports: pts})
		}
		if dryRun {
			res, err := c.DryRun(cmd.Context(), in)
			if err != nil {
				return err
			}
			if cf.json() {
				return printJSON(e.stdout, res)
			}
			printDryRun(e, res)
			return nil
		}
		var w time.Duration
		if wait {
			w = applyWait(waitTimeout)
		}
		r, err := c.RequestCreate(cmd.Context(), in, w)
		if err != nil {
			return err
		}
		var werr error
		if wait {
			r, werr = awaitOpen(cmd.Context(), e, c, r, approvalTimeout, w)
		}
		if cf.json() {
			if err := printJSON(e.stdout, r); err != nil {
				return err
			}
		} else {
			printRequest(e, r)
		}
		return werr
	})
	return cmd
}

// applyWait is how long one server-side wait for the agents lasts: the
// --wait-timeout given, within the server's 1s to 60s.
func applyWait(d time.Duration) time.Duration { return min(max(d, time.Second), 60*time.Second) }

// approvalPoll is how often a pending request is read again while waiting
// for approval.
const approvalPoll = time.Second

// awaitOpen waits until r's ports are open: while r is pending it waits for
// approval (at most approvalTimeout, printing progress to stderr), then
// for the agents (applyTimeout per call). It returns the request as last
// read and, unless every target is active, an error saying why not:
// denied, expired unapproved, not approved in time, failed, or ended.
func awaitOpen(ctx context.Context, e *env, c *client.Client, r *d.Request, approvalTimeout, applyTimeout time.Duration) (*d.Request, error) {
	deadline := time.Now().Add(approvalTimeout)
	said := ""
	for {
		switch r.Status {
		case d.StatusPending, d.StatusApproved:
			if line := pendingLine(r); line != said {
				fmt.Fprintln(e.stderr, line)
				said = line
			}
			left := time.Until(deadline)
			if left <= 0 {
				return r, fmt.Errorf("request %s was not approved within %s; it stays pending until %s (withdraw it: drawbridge revoke %s)", r.ID, d.Duration(approvalTimeout), ts8601(r.PendingUntil), r.ID)
			}
			select {
			case <-ctx.Done():
				return r, ctx.Err()
			case <-time.After(min(approvalPoll, left)):
			}
			next, err := c.Request(ctx, r.ID, 0)
			if err != nil {
				return r, err
			}
			r = next
		case d.StatusApplying:
			next, err := c.Request(ctx, r.ID, applyTimeout)
			if err != nil {
				return r, err // the server says why: agent offline, or not confirmed in time
			}
			r = next
		default:
			return r, openOutcome(r)
		}
	}
}

// pendingLine says what a pending request waits for: "req_… pending
// approval by role:approver (1 of 2 at level 1 of 2); expires unapproved at …".
func pendingLine(r *d.Request) string {
	p := d.Progress(r.Approval, r.Approvals, d.ApprovalForRequest)
	if p.Level >= len(r.Approval.Levels) {
		return fmt.Sprintf("%s approved; waiting for the agents", r.ID)
	}
	l := r.Approval.Levels[p.Level]
	who := "anyone who may approve requests on its machines"
	if len(l.Approvers) > 0 {
		who = strings.Join(l.Approvers, " or ")
	}
	level := ""
	if n := len(r.Approval.Levels); n > 1 {
		level = fmt.Sprintf(" at level %d of %d", p.Level+1, n)
	}
	return fmt.Sprintf("%s pending approval by %s (%d of %d approval(s)%s); expires unapproved at %s", r.ID, safe(who), p.Have, l.Quorum, level, ts8601(r.PendingUntil))
}

// openOutcome is nil when every target of r is active, else an error that
// says why not, one message per way a wait can end.
func openOutcome(r *d.Request) error {
	for _, t := range r.Targets {
		if t.Status == d.StatusActive {
			continue
		}
		port := fmt.Sprintf("%s %d/%s", safe(t.MachineName), t.Port, t.Protocol)
		switch t.Status {
		case d.StatusDenied:
			return fmt.Errorf("request %s was denied%s", r.ID, decidedBy(r, d.DecisionDeny))
		case d.StatusExpired:
			if r.Start.IsZero() {
				return fmt.Errorf("request %s expired unapproved at %s", r.ID, ts8601(r.PendingUntil))
			}
			return fmt.Errorf("request %s: %s already expired at %s", r.ID, port, ts8601(t.End))
		case d.StatusFailed:
			return fmt.Errorf("request %s: %s failed: %s", r.ID, port, safe(t.Reason))
		case d.StatusRevoked:
			return fmt.Errorf("request %s: %s was revoked: %s", r.ID, port, safe(t.Reason))
		default:
			return fmt.Errorf("request %s: %s is %s: %s", r.ID, port, t.Status, safe(t.Reason))
		}
	}
	return nil
}

// decidedBy names who last decided the request so: " by bob: no ticket".
func decidedBy(r *d.Request, decision string) string {
	for i := len(r.Approvals) - 1; i >= 0; i-- {
		a := r.Approvals[i]
		if a.Kind == d.ApprovalForRequest && a.Decision == decision {
			s := " by " + safe(orDash(a.ApproverName))
			if a.Reason != "" {
				s += ": " + safe(a.Reason)
			}
			return s
		}
	}
	return ""
}

func printRequest(e *env, r *d.Request) {
	escapeStrings(r)
	if r.Status == d.StatusPending {
		n := 0
		for _, a := range r.Approvals {
			if a.Kind == d.ApprovalForRequest && a.Decision == d.DecisionApprove {
				n++
			}
		}
		fmt.Fprintf(e.stdout, "%s pending: waits for approval until %s (%d approval(s) so far); opens for %s from the final approval\n", r.ID, ts8601(r.PendingUntil), n, r.Duration)
	} else {
		fmt.Fprintln(e.stdout, requestHeadline(r))
	}
	for _, t := range r.Targets {
		line := fmt.Sprintf("  %s %d/%s from %s: %s", t.MachineName, t.Port, t.Protocol, t.Source, t.Status)
		if t.Status == d.StatusActive && t.ApplyLatency > 0 {
			line += fmt.Sprintf(" (open in %s)", roundLatency(t.ApplyLatency.Std()))
		}
		if t.Reason != "" {
			line += " — " + t.Reason
		}
		fmt.Fprintln(e.stdout, line)
		if u := usageLine(t); u != "" {
			fmt.Fprintln(e.stdout, "    "+u)
		}
	}
}

// requestHeadline is the first line printed about a request that is not
// pending: its status and, for one that was granted, its end and its whole
// length (an extension moves both), else how it ended without opening.
func requestHeadline(r *d.Request) string {
	switch {
	case r.Status == d.StatusDenied:
		return fmt.Sprintf("%s denied%s", r.ID, decidedBy(r, d.DecisionDeny))
	case r.Start.IsZero() && r.Status == d.StatusExpired:
		return fmt.Sprintf("%s expired unapproved at %s", r.ID, ts8601(r.PendingUntil))
	case r.Start.IsZero() || r.End.IsZero():
		return fmt.Sprintf("%s %s", r.ID, r.Status)
	case r.Status.Open():
		return fmt.Sprintf("%s %s until %s (%s in all)", r.ID, r.Status, ts8601(r.End), d.Duration(r.End.Sub(r.Start)))
	}
	return fmt.Sprintf("%s %s (granted %s until %s)", r.ID, r.Status, d.Duration(r.End.Sub(r.Start)), ts8601(r.End))
}

// usageLine says whether a target that was open carried traffic: "used:
// yes, 14 MB, last packet 10:42:05 UTC (1,203 packets since 10:40:01)",
// "used: no", or "used: unknown (…)" when its agent never reported its
// counters. It is empty for targets that never opened.
func usageLine(t d.Target) string {
	if t.AppliedAt.IsZero() && t.Usage == nil {
		return ""
	}
	s := t.Usage.Summary()
	if t.Usage.Used() {
		s += fmt.Sprintf(" (%d packets since %s)", t.Usage.Packets, t.Usage.FirstUsedAt.UTC().Format("15:04:05"))
	}
	return s
}

func roundLatency(l time.Duration) time.Duration {
	if l < 10*time.Millisecond {
		return l.Round(10 * time.Microsecond)
	}
	return l.Round(time.Millisecond)
}

func printDryRun(e *env, r *d.DryRunResult) {
	escapeStrings(r)
	when := "until " + ts8601(r.End)
	if r.NeedsApproval {
		levels := make([]string, len(r.Approval.Levels))
		for i, l := range r.Approval.Levels {
			levels[i] = fmt.Sprintf("%d", l.Quorum)
		}
		when = fmt.Sprintf("after approval (quorum %s), for %s from the final approval; expires unapproved after %s", strings.Join(levels, " then "), r.Duration, r.Approval.PendingTTL)
	}
	fmt.Fprintf(e.stdout, "dry run: would open %d port(s) for %s, %s\n", len(r.Targets), r.Duration, when)
	for _, t := range r.Targets {
		fmt.Fprintf(e.stdout, "  %s %d/%s from %s\n", t.MachineName, t.Port, t.Protocol, t.Source)
	}
}
