package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
)

func newPolicyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Show, set, enable or disable a machine's JIT policy"}

	var ports, sources []string
	var maxDur string
	set := &cobra.Command{
		Use:   "set MACHINE",
		Short: "Set the ports a machine protects (and enable JIT on it)",
		Long: `Set the ports a machine protects and enable JIT on it. Every --port gets the
same --max-duration and --allow-source list. Open grants the new policy no
longer covers are revoked at once.`,
		Example: `  drawbridge policy set web-1 --port 22/tcp --max-duration 3h
  drawbridge policy set db-1 --port 22 --port 5432/tcp --allow-source 203.0.113.0/24 --allow-source 2001:db8::/48`,
		Args: cobra.ExactArgs(1),
	}
	sf := addClientFlags(set)
	set.Flags().StringSliceVar(&ports, "port", nil, "port to protect, PORT[/tcp|udp|any] (repeatable)")
	set.Flags().StringVar(&maxDur, "max-duration", "3h", "longest access a request may ask for (3h or PT3H)")
	set.Flags().StringSliceVar(&sources, "allow-source", []string{"*"}, "source CIDR or IP requests may use, * for any (repeatable)")
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
			rules = append(rules, d.RuleInput{Port: n, Protocol: proto, AllowedSources: sources, MaxDuration: maxDur})
		}
		on := true
		p, err := c.PolicySet(cmd.Context(), args[0], d.PolicyInput{Enabled: &on, Rules: rules})
		if err != nil {
			return err
		}
		return printPolicy(e, sf, args[0], p)
	}

	show := &cobra.Command{Use: "show MACHINE", Short: "Show a machine's JIT policy", Args: cobra.ExactArgs(1)}
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
		Use:   "enable MACHINE",
		Short: "Enable JIT (Azure's defaults when the machine has no rules yet: 22/tcp, 3h, any source)",
		Args:  cobra.ExactArgs(1),
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
		Use:   "disable MACHINE",
		Short: "Disable JIT: remove the deny rules and revoke the machine's grants",
		Args:  cobra.ExactArgs(1),
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
	cmd.AddCommand(set, show, enable, disable)
	return cmd
}

func printPolicy(e *env, cf *clientFlags, machine string, p *d.Policy) error {
	if cf.json() {
		return printJSON(e.stdout, p)
	}
	state := "enabled"
	if !p.Enabled {
		state = "disabled"
	}
	fmt.Fprintf(e.stdout, "JIT policy of %s: %s (updated %s by %s)\n", machine, state, ts8601(p.UpdatedAt), p.UpdatedBy)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tPROTOCOL\tMAX DURATION\tALLOWED SOURCES")
	for _, r := range p.Rules {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Port, r.Protocol, r.MaxDuration, strings.Join(r.AllowedSources, ","))
	}
	return tw.Flush()
}
