package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

func newApprovalsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List the requests (and extensions) waiting for your decision",
		Example: `  drawbridge approvals
  drawbridge approvals -o json`,
		Args: cobra.NoArgs,
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
		escapeStrings(&rs)
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
	cmd.RunE = requestVerb(e, cf, func(ctx context.Context, c *client.Client, id d.RequestID) (*d.Request, error) {
		return c.Approve(ctx, id, d.DecisionInput{Reason: reason})
	})
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
	cmd.RunE = requestVerb(e, cf, func(ctx context.Context, c *client.Client, id d.RequestID) (*d.Request, error) {
		if strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("--reason is required to deny")
		}
		return c.Deny(ctx, id, d.DecisionInput{Reason: reason})
	})
	return cmd
}

func newDoneCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "done REQUEST_ID",
		Short: "End your own access early: you are done",
		Long: `End your own access early: the ports close now for you. Run on a request
that has already ended (expired, revoked, denied or done before), it says how
and when it ended, by whom, and exits 0: there is nothing left to close.`,
		Example: `  drawbridge done req_…`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(cmd)
	verb := requestVerb(e, cf, func(ctx context.Context, c *client.Client, id d.RequestID) (*d.Request, error) {
		return c.Done(ctx, id)
	})
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		err := verb(cmd, args)
		if de := d.AsError(err); de != nil && de.Kind == d.Conflict {
			fmt.Fprintln(e.stdout, safe(de.Message)+"; nothing left to close")
			return nil
		}
		return err
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
	cmd.RunE = requestVerb(e, cf, func(ctx context.Context, c *client.Client, id d.RequestID) (*d.Request, error) {
		if in.By == "" {
			return nil, fmt.Errorf("--by is required, e.g. --by 30m")
		}
		return c.Extend(ctx, id, in)
	})
	return cmd
}

// requestVerb is the RunE of a command that acts on one request (its only
// argument) and prints the request as it is afterwards.
func requestVerb(e *env, cf *clientFlags, act func(context.Context, *client.Client, d.RequestID) (*d.Request, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		r, err := act(cmd.Context(), c, d.RequestID(args[0]))
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, r)
		}
		printRequest(e, r)
		if r.ExtendBy > 0 {
			fmt.Fprintf(e.stdout, "an extension by %s waits for approval\n", r.ExtendBy)
		}
		return nil
	}
}
