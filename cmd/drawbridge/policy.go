package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
)

func newPolicyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Show, set, enable, disable or delete a machine's (or a label selector's) JIT policy",
		Example: `  drawbridge policy show web-1
  drawbridge policy set web-1 --port 22/tcp --max-duration 3h
  drawbridge policy list`}

	set := &cobra.Command{
		Use:   "set MACHINE | set --selector KEY=VALUE[,…]",
		Short: "Set the ports a machine (or every machine matching a label selector) protects, and enable JIT",
		Long: `Change a machine's JIT policy (or a label-selector policy) and enable it.

One rule: a flag you do not give keeps its current value. --port lists
replace the set of protected ports, but each listed port that is already
protected keeps its other settings (--allow-source, --max-duration,
--idle-timeout) unless you give them; a new port starts from the defaults
(any source, 3h, no idle timeout). --allow-source, --max-duration and
--idle-timeout apply to every listed port, or to every current port when no
--port is given. A machine governed by a selector policy starts from that
policy's values. Open grants the new policy no longer covers are revoked at
once.

A change that weakens the policy (a port no longer protected, wider
sources, longer access, idle close off, approval off, fewer approvals or
more approvers, a weaker justification rule, limits removed) is applied
and printed as a WARNING, on standard error.

With --idle-timeout, a grant that carries no traffic for that long (counted
by the kernel, read by the agent every few seconds) is revoked with reason
"idle"; --idle-timeout none turns it off. With --deny-any-source, new ports
need --allow-source with specific prefixes.

Precedence: a machine's own policy wins; among the selector policies that
match it, the one with the higher --priority, then the one with more label
terms. Two selector policies that can match the same machine with the same
priority and as many terms are refused.`,
		Example: `  drawbridge policy set web-1 --port 22/tcp --max-duration 3h
  drawbridge policy set db-1 --port 22 --port 5432/tcp --allow-source 203.0.113.0/24 --allow-source 2001:db8::/48
  drawbridge policy set web-1 --idle-timeout 15m            # every port keeps its other settings
  drawbridge policy set web-1 --quorum 2                    # on a manual policy: two approvals
  drawbridge policy set --selector env=prod --port 22 --allow-source 203.0.113.0/24 --approval manual --quorum 2 \
      --approver role:approver --justification pattern --justification-pattern '^INC-[0-9]+' \
      --justification-hint "an incident ticket" --deny-any-source
  drawbridge policy set --selector team=db --port 5432 --priority 10   # wins over env=prod where both match`,
		Args: cobra.MaximumNArgs(1),
	}
	setSel := set.Flags().String("selector", "", "label selector the policy covers instead of one machine, e.g. env=prod,team=db")
	setPrio := set.Flags().Int("priority", 0, fmt.Sprintf("with --selector: precedence among the selector policies that match a machine, %d to %d, higher wins (a new policy: 0)", d.MinPriority, d.MaxPriority))
	settings := addSettingsFlags(set)
	rf := addRuleFlags(set)
	sf := addClientFlags(set)
	set.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := sf.client()
		if err != nil {
			return err
		}
		target, err := policyTarget(args, *setSel)
		if err != nil {
			return err
		}
		base, err := currentPolicy(cmd.Context(), c, args, *setSel)
		if err != nil {
			return err
		}
		in, err := setInput(cmd, base, rf, settings)
		if err != nil {
			return err
		}
		if cmd.Flags().Changed("priority") {
			if *setSel == "" {
				return fmt.Errorf("--priority needs --selector: a machine's own policy always wins")
			}
			in.Priority = setPrio
		}
		var p *d.PolicyChange
		if *setSel != "" {
			in.Selector = *setSel
			p, err = c.SelectorPolicySet(cmd.Context(), in)
		} else {
			p, err = c.PolicySet(cmd.Context(), target, in)
		}
		if err != nil {
			return err
		}
		printWeakenings(e, p.Weakenings)
		if sf.json() {
			return printJSON(e.stdout, p)
		}
		return printPolicy(e, sf, target, &p.Policy)
	}

	show := &cobra.Command{
		Use:     "show MACHINE",
		Short:   "Show the JIT policy that governs a machine (its own or a selector policy)",
		Example: "  drawbridge policy show web-1\n  drawbridge policy show web-1 -o json",
		Args:    cobra.ExactArgs(1),
	}
	shf := addClientFlags(show)
	show.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := shf.client()
		if err != nil {
			return err
		}
		p, err := c.Policy(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return printPolicy(e, shf, args[0], p)
	}

	enable := &cobra.Command{
		Use:     "enable MACHINE",
		Short:   "Enable JIT (Azure's defaults when the machine has no rules yet: 22/tcp, 3h, any source)",
		Example: "  drawbridge policy enable web-1",
		Args:    cobra.ExactArgs(1),
	}
	ef := addClientFlags(enable)
	enable.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := ef.client()
		if err != nil {
			return err
		}
		p, err := c.PolicyEnable(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		printWeakenings(e, p.Weakenings)
		return printPolicy(e, ef, args[0], &p.Policy)
	}

	disable := &cobra.Command{
		Use:     "disable MACHINE",
		Short:   "Disable JIT: remove the deny rules and revoke the machine's grants (the policy is kept, switched off)",
		Example: "  drawbridge policy disable web-1\n  drawbridge policy enable web-1     # back on, with the same rules",
		Args:    cobra.ExactArgs(1),
	}
	df := addClientFlags(disable)
	disable.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := df.client()
		if err != nil {
			return err
		}
		p, err := c.PolicyDisable(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		printWeakenings(e, p.Weakenings)
		return printPolicy(e, df, args[0], &p.Policy)
	}
	cmd.AddCommand(set, show, enable, disable, newPolicyListCmd(e), newPolicyDeleteCmd(e))
	return cmd
}

// policyTarget returns what a policy command names: a machine, or a selector.
func policyTarget(args []string, selector string) (string, error) {
	switch {
	case selector != "" && len(args) > 0:
		return "", fmt.Errorf("give a MACHINE or --selector, not both")
	case selector != "":
		return "selector " + selector, nil
	case len(args) == 0:
		return "", fmt.Errorf("give a MACHINE or --selector KEY=VALUE")
	}
	return args[0], nil
}

// printWeakenings warns, on standard error, about each way a change
// weakened a policy.
func printWeakenings(e *env, ws []d.Weakening) {
	if len(ws) == 0 {
		return
	}
	fmt.Fprintln(e.stderr, "WARNING: this change weakens the policy:")
	for _, w := range ws {
		// Messages quote stored values (approver names): never send
		// their control characters to the terminal.
		line := strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return '\uFFFD'
			}
			return r
		}, w.String())
		fmt.Fprintf(e.stderr, "  - %s\n", line)
	}
}

func printPolicy(e *env, cf *clientFlags, machine string, p *d.Policy) error {
	if cf.json() {
		return printJSON(e.stdout, p)
	}
	escapeStrings(p)
	state := "enabled"
	if !p.Enabled {
		state = "disabled"
	}
	fmt.Fprintf(e.stdout, "JIT policy of %s: %s (updated %s by %s)\n", machine, state, ts8601(p.UpdatedAt), p.UpdatedBy)
	if p.Selector != "" {
		fmt.Fprintf(e.stdout, "from the policy for selector %s (%s, priority %d)\n", p.Selector, p.ID, p.Priority)
	}
	fmt.Fprintln(e.stdout, describeSettings(p))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tPROTOCOL\tMAX DURATION\tIDLE TIMEOUT\tALLOWED SOURCES")
	for _, r := range p.Rules {
		idle := "-"
		if r.IdleTimeout > 0 {
			idle = r.IdleTimeout.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Port, r.Protocol, r.MaxDuration, idle, strings.Join(r.AllowedSources, ","))
	}
	return tw.Flush()
}
