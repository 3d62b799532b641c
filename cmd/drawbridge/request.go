package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
)

func newRequestCmd(e *env) *cobra.Command {
	var ports []string
	var duration, source, justification string
	var wait, dryRun bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "request MACHINE [MACHINE...]",
		Short: "Ask for access to ports of one or more machines",
		Long: `Ask for access. The source defaults to your address as the server sees it;
--source may name a single address or a range inside what the policy allows.
With --wait the command returns once every agent has confirmed the rule is in
the kernel, and prints how long that took.`,
		Example: `  drawbridge request web-1 --port 22 --duration 1h --justification "INC-1234" --wait
  drawbridge request web-1 web-2 --port 22 --source 203.0.113.0/28 --duration PT30M
  drawbridge request db-1 --port 5432 --duration 2h --dry-run`,
		Args: cobra.MinimumNArgs(1),
	}
	cf := addClientFlags(cmd)
	cmd.Flags().StringSliceVar(&ports, "port", nil, "port to open, PORT[/tcp|udp] (repeatable; required)")
	cmd.Flags().StringVar(&duration, "duration", "", "how long, e.g. 1h or PT1H (default: 1h, or the policy's maximum if lower)")
	cmd.Flags().StringVar(&source, "source", "", "IP or CIDR to open for (default: your address as the server sees it)")
	cmd.Flags().StringVar(&justification, "justification", "", "why you need access")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the agents confirm the ports are open")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would open, for how long, and whether approval is needed; change nothing")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 30*time.Second, "how long --wait waits (at most 60s)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
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
			w = min(max(waitTimeout, time.Second), 60*time.Second)
		}
		r, err := c.RequestCreate(cmd.Context(), in, w)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, r)
		}
		printRequest(e, r)
		if wait {
			for _, t := range r.Targets {
				if t.Status == d.StatusFailed {
					return fmt.Errorf("request %s: %s %d/%s failed: %s", r.ID, t.MachineName, t.Port, t.Protocol, t.Reason)
				}
			}
		}
		return nil
	}
	return cmd
}

func printRequest(e *env, r *d.Request) {
	if r.Status == d.StatusPending {
		n := 0
		for _, a := range r.Approvals {
			if a.Kind == d.ApprovalForRequest && a.Decision == d.DecisionApprove {
				n++
			}
		}
		fmt.Fprintf(e.stdout, "%s pending: waits for approval until %s (%d approval(s) so far); opens for %s from the final approval\n", r.ID, ts8601(r.PendingUntil), n, r.Duration)
	} else {
		fmt.Fprintf(e.stdout, "%s %s until %s (%s)\n", r.ID, r.Status, ts8601(r.End), r.Duration)
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
