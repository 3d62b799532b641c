package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
)

func newApprovalsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List the requests (and extensions) waiting for your decision",
		Args:  cobra.NoArgs,
	}
	cf := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		rs, err := c.Approvals(cmd.Context())
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, rs)
		}
		if len(rs) == 0 {
			fmt.Fprintln(e.stdout, "nothing waits for your approval")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REQUEST\tWHAT\tREQUESTER\tTARGETS\tDURATION\tJUSTIFICATION\tEXPIRES")
		for _, r := range rs {
			what, expires := "access", ts8601(r.PendingUntil)
			if r.Status != d.StatusPending {
				what, expires = "extend by "+r.ExtendBy.String(), ts8601(r.End)
			}
			var ts []string
			for _, t := range r.Targets {
				ts = append(ts, fmt.Sprintf("%s %d/%s from %s", t.MachineName, t.Port, t.Protocol, t.Source))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, what, r.RequesterName, strings.Join(ts, "; "), r.Duration, r.Justification, expires)
		}
		return tw.Flush()
	}
	return cmd
}

func newApproveCmd(e *env) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "approve REQUEST_ID",
		Short:   "Approve a pending request (or its pending extension)",
		Example: `  drawbridge approve req_… --reason "matches INC-1234"`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		r, err := c.Approve(cmd.Context(), d.RequestID(args[0]), d.DecisionInput{Reason: reason})
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, r)
		}
		printRequest(e, r)
		return nil
	}
	return cmd
}

func newDenyCmd(e *env) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "deny REQUEST_ID --reason TEXT",
		Short:   "Deny a pending request (or its pending extension)",
		Example: `  drawbridge deny req_… --reason "no ticket"`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		if strings.TrimSpace(reason) == "" {
			return fmt.Errorf("--reason is required to deny")
		}
		r, err := c.Deny(cmd.Context(), d.RequestID(args[0]), d.DecisionInput{Reason: reason})
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, r)
		}
		printRequest(e, r)
		return nil
	}
	return cmd
}

func newDoneCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "done REQUEST_ID",
		Short: "End your own access early: you are done",
		Args:  cobra.ExactArgs(1),
	}
	cf := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		r, err := c.Done(cmd.Context(), d.RequestID(args[0]))
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, r)
		}
		printRequest(e, r)
		return nil
	}
	return cmd
}

func newExtendCmd(e *env) *cobra.Command {
	var in d.ExtendInput
	cmd := &cobra.Command{
		Use:   "extend REQUEST_ID --by DURATION",
		Short: "Ask for more time on your active request",
		Long: `Ask for more time on your active request. The total, counted from the
original start, must stay within the policy's maximum. Under a manual
approval policy the extension may need approval again.`,
		Example: `  drawbridge extend req_… --by 30m`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(cmd)
	cmd.Flags().StringVar(&in.By, "by", "", "how much longer, e.g. 30m (required)")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why, for the record")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		if in.By == "" {
			return fmt.Errorf("--by is required, e.g. --by 30m")
		}
		r, err := c.Extend(cmd.Context(), d.RequestID(args[0]), in)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, r)
		}
		printRequest(e, r)
		if r.ExtendBy > 0 {
			fmt.Fprintf(e.stdout, "the extension by %s waits for approval\n", r.ExtendBy)
		}
		return nil
	}
	return cmd
}
