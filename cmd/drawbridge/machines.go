package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
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
	cf := addClientFlags(e, cmd)
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, _ []string, c *client.Client) error {
		ms, err := c.Machines(cmd.Context())
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, ms)
		}
		escapeStrings(&ms)
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
		if err := tw.Flush(); err != nil {
			return err
		}
		printMachineWarnings(e.stdout, ms)
		return nil
	})
	cmd.AddCommand(newMachineDeleteCmd(e))
	return cmd
}

func newMachineDeleteCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete MACHINE",
		Short: "Delete a machine: revoke its grants; its agent certificate stops working (admin)",
		Long: `Delete a machine. Its open grants are revoked, its policy is removed and its
agent's certificate stops working at once; its requests stay for the record.
The agent can no longer hear of the revocations, so its grants still close at
their end times and its protected ports stay closed: run
'drawbridge agent --cleanup' on a host you retire. The agent, refused by the
server, exits with an error that says so.`,
		Example: `  drawbridge machines delete old-web-3`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		if err := c.MachineDelete(cmd.Context(), args[0]); err != nil {
			return err
		}
		return printOutcome(e, cf, map[string]string{"deleted": args[0]}, "deleted machine "+args[0])
	})
	return cmd
}

// printMachineWarnings prints, under the table, what needs an operator's
// attention on a machine: an agent clock off from the server's.
func printMachineWarnings(w io.Writer, ms []d.MachineView) {
	for _, m := range ms {
		if m.ClockWarning != "" {
			fmt.Fprintf(w, "warning: %s: %s\n", m.Name, m.ClockWarning)
		}
	}
}
