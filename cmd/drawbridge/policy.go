package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/drawbridge/drawbridge/client"

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
	sf := addClientFlags(e, set)
	set.RunE = clientRunE(sf, func(cmd *cobra.Command, args []string, c *client.Client) error {
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
	})

	show := &cobra.Command{
		Use:     "show MACHINE",
		Short:   "Show the JIT policy that governs a machine (its own or a selector policy)",
		Example: "  drawbridge policy show web-1\n  drawbridge policy show web-1 -o json",
		Args:    cobra.ExactArgs(1),
	}
	shf := addClientFlags(e, show)
	show.RunE = clientRunE(shf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		p, err := c.Policy(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return printPolicy(e, shf, args[0], p)
	})

	enable := &cobra.Command{
		Use:     "enable MACHINE",
		Short:   "Enable JIT (Azure's defaults when the machine has no rules yet: 22/tcp, 3h, any source)",
		Example: "  drawbridge policy enable web-1",
		Args:    cobra.ExactArgs(1),
	}
	ef := addClientFlags(e, enable)
	enable.RunE = clientRunE(ef, func(cmd *cobra.Command, args []string, c *client.Client) error {
		p, err := c.PolicyEnable(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		printWeakenings(e, p.Weakenings)
		return printPolicy(e, ef, args[0], &p.Policy)
	})

	disable := &cobra.Command{
		Use:     "disable MACHINE",
		Short:   "Disable JIT: remove the deny rules and revoke the machine's grants (the policy is kept, switched off)",
		Example: "  drawbridge policy disable web-1\n  drawbridge policy enable web-1     # back on, with the same rules",
		Args:    cobra.ExactArgs(1),
	}
	df := addClientFlags(e, disable)
	disable.RunE = clientRunE(df, func(cmd *cobra.Command, args []string, c *client.Client) error {
		p, err := c.PolicyDisable(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		printWeakenings(e, p.Weakenings)
		return printPolicy(e, df, args[0], &p.Policy)
	})
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

// settingsFlags are a policy's approval, justification and limit flags.
// Only flags given on the command line change a setting; the others keep
// the current value (the defaults for a new policy).
type settingsFlags struct {
	approval, pendingTTL, extensions string
	quorum, quorum2                  int
	approvers, approvers2            []string
	justification, jPattern, jHint   string
	maxActive                        int
	denyAnySource                    bool
}

func addSettingsFlags(cmd *cobra.Command) *settingsFlags {
	f := &settingsFlags{}
	fl := cmd.Flags()
	fl.StringVar(&f.approval, "approval", "", "auto (the permission is the approval, as Azure; a new policy's default) or manual")
	fl.IntVar(&f.quorum, "quorum", 0, "manual: approvals needed at the first level (a new manual policy: 1)")
	fl.StringSliceVar(&f.approvers, "approver", nil, "manual: who may approve at the first level: role:<role>, group:<name>, user:<name> (repeatable; a new manual policy: anyone with requests/approve)")
	fl.IntVar(&f.quorum2, "second-level-quorum", 0, "manual: approvals needed at a second level (0 removes the second level)")
	fl.StringSliceVar(&f.approvers2, "second-level-approver", nil, "manual: who may approve at the second level (repeatable; adds the level with quorum 1 if missing)")
	fl.StringVar(&f.pendingTTL, "pending-ttl", "", "manual: a request not approved by then expires (a new manual policy: 1h)")
	fl.StringVar(&f.extensions, "extensions", "", "manual: do extensions need approval again (manual, a new policy's default) or not (auto)")
	fl.StringVar(&f.justification, "justification", "", "optional (a new policy's default), required, or pattern")
	fl.StringVar(&f.jPattern, "justification-pattern", "", "a regular expression justifications must match, e.g. ^INC-[0-9]+ (implies --justification pattern)")
	fl.StringVar(&f.jHint, "justification-hint", "", "shown to requesters, e.g. \"an incident ticket, INC-1234\"")
	fl.IntVar(&f.maxActive, "max-active-per-user", 0, "open grants one person may hold on a machine (0: no limit, a new policy's default)")
	fl.BoolVar(&f.denyAnySource, "deny-any-source", false, "refuse * and wide sources (more than a /16 or /48 in all) in the policy and in requests; --deny-any-source=false turns it off")
	return f
}

// ruleFlags are the per-port flags of policy set.
type ruleFlags struct {
	ports, sources []string
	maxDur, idle   string
}

func addRuleFlags(cmd *cobra.Command) *ruleFlags {
	f := &ruleFlags{}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.ports, "port", nil, "port to protect, PORT[/tcp|udp|any] (repeatable); replaces the set of protected ports")
	fl.StringVar(&f.maxDur, "max-duration", "", "longest access a request may ask for, 3h or PT3H (a new port: 3h)")
	fl.StringSliceVar(&f.sources, "allow-source", nil, "source CIDR or IP requests may use, * for any (repeatable; a new port: *)")
	fl.StringVar(&f.idle, "idle-timeout", "", "revoke a grant with no traffic for this long, 15m or PT15M (at most --max-duration); none turns it off (a new port: none)")
	return f
}

// currentPolicy returns the policy policy set starts from: the one that
// governs the machine (its own, else a selector policy), or the selector
// policy with that selector; nil if there is none.
func currentPolicy(ctx context.Context, c *client.Client, args []string, selector string) (*d.Policy, error) {
	if selector == "" {
		p, err := c.Policy(ctx, args[0])
		if d.ErrorKind(err) == d.NotFound {
			if _, merr := c.Machine(ctx, args[0]); merr != nil {
				return nil, merr // no such machine: say so, not "no policy"
			}
			return nil, nil
		}
		return p, err
	}
	sel, err := d.ParseSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("--selector: %w", err)
	}
	ps, err := c.SelectorPolicies(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].Selector == sel.String() {
			return &ps[i], nil
		}
	}
	return nil, nil
}

// setInput builds what policy set sends: the whole policy, from base (nil:
// none yet) and the flags given. A flag not given keeps base's value.
func setInput(cmd *cobra.Command, base *d.Policy, rf *ruleFlags, sf *settingsFlags) (d.PolicyInput, error) {
	ch := cmd.Flags().Changed
	on := true
	in := d.PolicyInput{Enabled: &on}
	var rules []d.RuleInput
	switch {
	case len(rf.ports) > 0:
		for _, spec := range rf.ports {
			n, proto, err := d.ParsePortSpec(spec, d.TCP)
			if err != nil {
				return in, fmt.Errorf("--port: %w", err)
			}
			r := d.RuleInput{Port: n, Protocol: proto}
			if base != nil {
				if old, ok := base.Rule(n, proto); ok {
					r = ruleInput(old)
					r.Protocol = proto
				}
			}
			rules = append(rules, r)
		}
	case base != nil:
		for _, r := range base.Rules {
			rules = append(rules, ruleInput(r))
		}
	default:
		return in, fmt.Errorf("give at least one --port, e.g. --port 22/tcp")
	}
	if ch("allow-source") && len(rf.sources) == 0 {
		return in, fmt.Errorf("--allow-source: give a CIDR, an IP address, or * for any source")
	}
	for i := range rules {
		if ch("allow-source") {
			rules[i].AllowedSources = rf.sources
		}
		if ch("max-duration") {
			rules[i].MaxDuration = rf.maxDur
		}
		if ch("idle-timeout") {
			rules[i].IdleTimeout = rf.idle
			if rf.idle == "none" {
				rules[i].IdleTimeout = ""
			}
		}
	}
	in.Rules = rules

	var st d.Settings
	if base != nil {
		st = base.Settings()
	}
	a, err := sf.approvalInput(ch, st.Approval)
	if err != nil {
		return in, err
	}
	in.Approval = a
	j := st.Justification
	if ch("justification") {
		j.Mode = d.JustificationMode(sf.justification)
	}
	if ch("justification-pattern") {
		j.Pattern = sf.jPattern
		if !ch("justification") {
			j.Mode = d.JustificationPattern
		}
	}
	if ch("justification-hint") {
		j.Hint = sf.jHint
	}
	in.Justification = &j
	l := st.Limits
	if ch("max-active-per-user") {
		l.MaxActivePerUser = sf.maxActive
	}
	if ch("deny-any-source") {
		l.DenyAnySource = sf.denyAnySource
	}
	in.Limits = &l
	if l.DenyAnySource {
		for _, r := range rules {
			if len(r.AllowedSources) == 0 {
				return in, fmt.Errorf("the policy denies any-source access (--deny-any-source): give --allow-source with specific prefixes for port %d/%s, e.g. --allow-source 203.0.113.0/24", r.Port, r.Protocol)
			}
		}
	}
	return in, nil
}

// ruleInput turns a stored rule back into what the API takes.
func ruleInput(r d.PortRule) d.RuleInput {
	in := d.RuleInput{Port: r.Port, Protocol: r.Protocol, AllowedSources: r.AllowedSources, MaxDuration: r.MaxDuration.String()}
	if r.IdleTimeout > 0 {
		in.IdleTimeout = r.IdleTimeout.String()
	}
	return in
}

// approvalInput applies the approval flags given to cur.
func (f *settingsFlags) approvalInput(ch func(string) bool, cur d.ApprovalRule) (*d.ApprovalInput, error) {
	mode := cur.Mode
	if ch("approval") {
		mode = d.ApprovalMode(f.approval)
	}
	manualOnly := []string{"quorum", "approver", "second-level-quorum", "second-level-approver", "pending-ttl", "extensions"}
	if mode != d.ApprovalManual {
		for _, name := range manualOnly {
			if ch(name) {
				return nil, fmt.Errorf("--%s needs manual approval: add --approval manual", name)
			}
		}
		return &d.ApprovalInput{Mode: orMode(mode)}, nil
	}
	a := &d.ApprovalInput{Mode: d.ApprovalManual, Extensions: cur.Extensions}
	if cur.Manual() {
		a.Levels = append([]d.ApprovalLevel(nil), cur.Levels...)
		if cur.PendingTTL > 0 {
			a.PendingTTL = cur.PendingTTL.String()
		}
	}
	if len(a.Levels) == 0 {
		a.Levels = []d.ApprovalLevel{{Quorum: 1}}
	}
	if ch("quorum") {
		a.Levels[0].Quorum = f.quorum
	}
	if ch("approver") {
		a.Levels[0].Approvers = f.approvers
	}
	if ch("second-level-quorum") && f.quorum2 == 0 {
		if ch("second-level-approver") {
			return nil, fmt.Errorf("--second-level-quorum 0 removes the second level; do not give --second-level-approver with it")
		}
		a.Levels = a.Levels[:1]
	}
	if (ch("second-level-quorum") && f.quorum2 > 0 || ch("second-level-approver")) && len(a.Levels) < 2 {
		a.Levels = append(a.Levels, d.ApprovalLevel{Quorum: 1})
	}
	if ch("second-level-quorum") && f.quorum2 > 0 {
		a.Levels[1].Quorum = f.quorum2
	}
	if ch("second-level-approver") {
		a.Levels[1].Approvers = f.approvers2
	}
	if ch("pending-ttl") {
		a.PendingTTL = f.pendingTTL
	}
	if ch("extensions") {
		a.Extensions = d.ApprovalMode(f.extensions)
	}
	return a, nil
}

// describeSettings renders a policy's approval, justification and limits
// on one line.
func describeSettings(p *d.Policy) string {
	parts := []string{"approval: " + string(orMode(p.Approval.Mode))}
	if p.Approval.Manual() {
		for i, l := range p.Approval.Levels {
			who := "anyone with requests/approve"
			if len(l.Approvers) > 0 {
				who = strings.Join(l.Approvers, " or ")
			}
			parts[0] += fmt.Sprintf(", level %d: %d of %s", i+1, l.Quorum, who)
		}
		parts[0] += fmt.Sprintf(", pending TTL %s, extensions %s", p.Approval.PendingTTL, p.Approval.Extensions)
	}
	j := "justification: " + string(p.Justification.Mode)
	if p.Justification.Mode == "" {
		j = "justification: optional"
	}
	if p.Justification.Pattern != "" {
		j += " " + p.Justification.Pattern
	}
	parts = append(parts, j)
	if p.Limits.MaxActivePerUser > 0 {
		parts = append(parts, fmt.Sprintf("max %d open grant(s) per person", p.Limits.MaxActivePerUser))
	}
	if p.Limits.DenyAnySource {
		parts = append(parts, "no any-source access")
	}
	return strings.Join(parts, "; ")
}

func orMode(m d.ApprovalMode) d.ApprovalMode {
	if m == "" {
		return d.ApprovalAuto
	}
	return m
}

func newPolicyListCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List machine and label-selector policies",
		Example: "  drawbridge policy list\n  drawbridge policy list -o json",
		Args:    cobra.NoArgs,
	}
	cf := addClientFlags(e, cmd)
	cmd.RunE = listRunE(e, cf, (*client.Client).Policies, "TARGET\tENABLED\tPORTS\tAPPROVAL\tPRIORITY\tID", func(p d.Policy) string {
		prio := "-" // a machine's own policy wins over every selector policy
		if p.Selector != "" {
			prio = fmt.Sprint(p.Priority)
		}
		return fmt.Sprintf("%s\t%v\t%s\t%s\t%s\t%s", p.Target(), p.Enabled, rulesSummary(&p), orMode(p.Approval.Mode), prio, orDash(p.ID))
	})
	return cmd
}

func newPolicyDeleteCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete MACHINE | POLICY_ID",
		Short: "Delete a machine's own policy, or a label-selector policy (machines fall back to the next matching policy)",
		Long: `Delete a machine's own JIT policy (MACHINE) or a label-selector policy
(POLICY_ID, pol_…). Unlike "policy disable", which keeps the machine's own
policy switched off, deleting it lets a matching selector policy govern the
machine again, or none. Grants the policy that governs afterwards does not
cover are revoked. A fallback weaker than the deleted policy is printed as a
WARNING.`,
		Example: `  drawbridge policy delete web-1      # web-1 falls back to its selector policy, if any
  drawbridge policy delete pol_…`,
		Args: cobra.ExactArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		if d.ValidID(args[0], d.PolicyPrefix) {
			if err := c.SelectorPolicyDelete(cmd.Context(), args[0]); err != nil {
				return err
			}
			return printOutcome(e, cf, map[string]string{"deleted": args[0]}, "deleted "+args[0])
		}
		out, err := c.PolicyDelete(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		printWeakenings(e, out.Weakenings)
		if cf.json() {
			return printJSON(e.stdout, out)
		}
		switch p := out.Policy; {
		case p == nil:
			fmt.Fprintf(e.stdout, "deleted the policy of %s; no JIT policy governs it now\n", args[0])
		default:
			state := "enabled"
			if !p.Enabled {
				state = "disabled"
			}
			fmt.Fprintf(e.stdout, "deleted the policy of %s; the policy for selector %s (%s, %s) governs it now\n", args[0], p.Selector, p.ID, state)
		}
		return nil
	})
	return cmd
}
