package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newMachinesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "machines",
		Aliases: []string{"machine"},
		Short:   "List machines: Configured, Not configured or Unsupported (with the reason)",
		Example: `  drawbridge machines
  drawbridge machines -o json`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		ms, err := c.Machines(cmd.Context())
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, ms)
		}
		now := time.Now()
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tPORTS\tGRANTS\tAPPROVED 7D\tLAST ACCESS\tLAST USER\tONLINE\tLAST SEEN\tID\tREASON")
		for _, m := range ms {
			online := "no"
			if m.Online {
				online = "yes"
			}
			lastAccess := "never"
			if !m.LastAccess.IsZero() {
				lastAccess = ts8601(m.LastAccess)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, statusNames[m.Status], rulesSummary(m.Policy), m.ActiveGrants, m.ApprovedLast7d, lastAccess, orDash(m.LastUser), online, ago(now, m.LastSeen), m.ID, m.StatusReason)
		}
		return tw.Flush()
	}
	return cmd
}
