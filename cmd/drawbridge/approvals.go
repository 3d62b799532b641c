package main

import (
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
	cf := addClientFlags(e, cmd)
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, _ []string, c *client.Client) error {
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
	})
	return cmd
}
