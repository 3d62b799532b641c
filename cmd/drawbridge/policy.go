package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
)

func newPolicyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Show, set, enable or disable a machine's JIT policy",
		Example: `  drawbridge policy show web-1
  drawbridge policy set web-1 --port 22/tcp --max-duration 3h
  drawbridge policy list`}

	var ports, sources []string
	var maxDur, idle string
	set := &cobra.Command{
		Use:   "set MACHINE | set --selector KEY=VALUE[,…]",
		Short: "Set the ports a machine (or every machine matching a label selector) protects, and enable JIT",
		Long: `Set the ports a machine protects and enable JIT on it. Every --port gets the
same --max-duration, --allow-source list and --idle-timeout. Open grants the
new policy no longer covers are revoked at once. With --idle-timeout, a grant
that carries no traffic for that long (counted by the kernel, read by the
agent every few seconds) is revoked with reason "idle".`,
		Example: `  drawbridge policy set web-1 --port 22/tcp --max-duration 3h
  drawbridge policy set db-1 --port 22 --port 5432/tcp --allow-source 203.0.113.0/24 --allow-source 2001:db8::/48
  drawbridge policy set web-1 --port 22 --max-duration 8h --idle-timeout 15m
  drawbridge policy set --selector env=prod --port 22 --approval manual --quorum 2 --approver role:approver \
      --justification pattern --justification-pattern '^INC-[0-9]+' --justification-hint "an incident ticket" --deny-any-source`,
		Args: cobra.MaximumNArgs(1),
	}
	setSel := set.Flags().String("selector", "", "label selector the policy covers instead of one machine, e.g. env=prod,team=db")
	settings := addSettingsFlags(set)
	sf := addClientFlags(set)
	set.Flags().StringSliceVar(&ports, "port", nil, "port to protect, PORT[/tcp|udp|any] (repeatable)")
	set.Flags().StringVar(&maxDur, "max-duration", "3h", "longest access a request may ask for (3h or PT3H)")
	set.Flags().StringSliceVar(&sources, "allow-source", []string{"*"}, "source CIDR or IP requests may use, * for any (repeatable)")
	set.Flags().StringVar(&idle, "idle-timeout", "", "revoke a grant with no traffic for this long (15m or PT15M; at most --max-duration); default: never")
	set.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := sf.client()
		if err != nil {
			return err
		}
		if len(ports) == 0 {
			return fmt.Errorf("give at least one --port, e.g. --port 22/tcp")
		}
		var rules []d.RuleInput
		for _, p := range ports {
			n, proto, err := d.ParsePortSpec(p, d.TCP)
			if err != nil {
				return fmt.Errorf("--port: %w", err)
			}
			rules = append(rules, d.RuleInput{Port: n, Protocol: proto, AllowedSources: sources, MaxDuration: maxDur, IdleTimeout: idle})
		}
		on := true
		in := d.PolicyInput{Enabled: &on, Rules: rules}
		if err := settings.apply(cmd, &in); err != nil {
			return err
		}
		target, err := policyTarget(args, *setSel)
		if err != nil {
			return err
		}
		var p *d.Policy
		if *setSel != "" {
			in.Selector = *setSel
			p, err = c.SelectorPolicySet(cmd.Context(), in)
		} else {
			p, err = c.PolicySet(cmd.Context(), target, in)
		}
		if err != nil {
			return err
		}
		return printPolicy(e, sf, target, p)
	}

	show := &cobra.Command{Use: "show MACHINE", Short: "Show the JIT policy that governs a machine (its own or a selector policy)", Args: cobra.ExactArgs(1),
		Example: `  drawbridge policy show web-1
  drawbridge policy show web-1 -o json`}
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
		Example: `  drawbridge policy enable web-1`,
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
		return printPolicy(e, ef, args[0], p)
	}

	disable := &cobra.Command{
		Use:     "disable MACHINE",
		Short:   "Disable JIT: remove the deny rules and revoke the machine's grants",
		Example: `  drawbridge policy disable web-1`,
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
		return printPolicy(e, df, args[0], p)
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
		fmt.Fprintf(e.stdout, "from the policy for selector %s (%s)\n", p.Selector, p.ID)
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
