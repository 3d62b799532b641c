package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

// settingsFlags are a policy's approval, justification and limit flags.
// Only flags given on the command line change a setting.
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
	fl.StringVar(&f.approval, "approval", "auto", "auto (the permission is the approval, as Azure) or manual")
	fl.IntVar(&f.quorum, "quorum", 1, "manual: approvals needed at the first level")
	fl.StringSliceVar(&f.approvers, "approver", nil, "manual: who may approve at the first level: role:<role>, group:<name>, user:<name> (repeatable; default anyone with requests/approve)")
	fl.IntVar(&f.quorum2, "second-level-quorum", 0, "manual: approvals needed at a second level (0: none)")
	fl.StringSliceVar(&f.approvers2, "second-level-approver", nil, "manual: who may approve at the second level (repeatable)")
	fl.StringVar(&f.pendingTTL, "pending-ttl", "1h", "manual: a request not approved by then expires")
	fl.StringVar(&f.extensions, "extensions", "manual", "manual: do extensions need approval again (manual) or not (auto)")
	fl.StringVar(&f.justification, "justification", "optional", "optional, required, or pattern")
	fl.StringVar(&f.jPattern, "justification-pattern", "", "with --justification pattern: a regular expression, e.g. ^INC-[0-9]+")
	fl.StringVar(&f.jHint, "justification-hint", "", "shown to requesters, e.g. \"an incident ticket, INC-1234\"")
	fl.IntVar(&f.maxActive, "max-active-per-user", 0, "open grants one person may hold on a machine (0: no limit)")
	fl.BoolVar(&f.denyAnySource, "deny-any-source", false, "refuse * in allowed sources and wide request sources")
	return f
}

func (f *settingsFlags) apply(cmd *cobra.Command, in *d.PolicyInput) error {
	ch := cmd.Flags().Changed
	if ch("approval") || ch("quorum") || ch("approver") || ch("second-level-quorum") || ch("second-level-approver") || ch("pending-ttl") || ch("extensions") {
		mode := d.ApprovalMode(f.approval)
		if mode == d.ApprovalAuto && (ch("quorum") || ch("approver") || ch("second-level-quorum")) {
			return fmt.Errorf("--quorum and --approver need --approval manual")
		}
		a := &d.ApprovalInput{Mode: mode, PendingTTL: f.pendingTTL, Extensions: d.ApprovalMode(f.extensions)}
		if mode == d.ApprovalManual {
			a.Levels = []d.ApprovalLevel{{Quorum: f.quorum, Approvers: f.approvers}}
			if f.quorum2 > 0 || len(f.approvers2) > 0 {
				a.Levels = append(a.Levels, d.ApprovalLevel{Quorum: max(f.quorum2, 1), Approvers: f.approvers2})
			}
		}
		in.Approval = a
	}
	if ch("justification") || ch("justification-pattern") || ch("justification-hint") {
		mode := d.JustificationMode(f.justification)
		if ch("justification-pattern") && !ch("justification") {
			mode = d.JustificationPattern
		}
		in.Justification = &d.JustificationRule{Mode: mode, Pattern: f.jPattern, Hint: f.jHint}
	}
	if ch("max-active-per-user") || ch("deny-any-source") {
		in.Limits = &d.Limits{MaxActivePerUser: f.maxActive, DenyAnySource: f.denyAnySource}
	}
	return nil
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
	cmd := &cobra.Command{Use: "list", Short: "List machine and label-selector policies", Args: cobra.NoArgs,
		Example: `  drawbridge policy list
  drawbridge policy list -o json`}
	cf := addClientFlags(cmd)
	cmd.RunE = listRunE(e, cf, (*client.Client).Policies, "TARGET\tENABLED\tPORTS\tAPPROVAL\tID", func(p d.Policy) string {
		return fmt.Sprintf("%s\t%v\t%s\t%s\t%s", p.Target(), p.Enabled, rulesSummary(&p), orMode(p.Approval.Mode), orDash(p.ID))
	})
	return cmd
}

func newPolicyDeleteCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete POLICY_ID",
		Short:   "Delete a label-selector policy (machines fall back to the next matching policy)",
		Example: `  drawbridge policy delete pol_…`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		if err := c.SelectorPolicyDelete(cmd.Context(), args[0]); err != nil {
			return err
		}
		return printOutcome(e, cf, map[string]string{"deleted": args[0]}, "deleted "+args[0])
	}
	return cmd
}
