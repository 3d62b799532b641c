package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

func newRequestsCmd(e *env) *cobra.Command {
	var f client.RequestsFilter
	cmd := &cobra.Command{
		Use:   "requests [REQUEST_ID]",
		Short: "List access requests (or show one) with per-port status and reason",
		Example: `  drawbridge requests
  drawbridge requests --open --machine web-1
  drawbridge requests req_… -o json`,
		Args: cobra.MaximumNArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.Flags().BoolVar(&f.Mine, "mine", false, "only my requests")
	cmd.Flags().BoolVar(&f.Open, "open", false, "only requests that are still open (pending, applying, active)")
	cmd.Flags().StringVar(&f.Machine, "machine", "", "only requests for this machine")
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "at most this many (up to 1000)")
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		if len(args) == 1 {
			r, err := c.Request(cmd.Context(), d.RequestID(args[0]), 0)
			if err != nil {
				return err
			}
			if cf.json() {
				return printJSON(e.stdout, r)
			}
			printRequest(e, r)
			return nil
		}
		rs, err := c.Requests(cmd.Context(), f)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, rs)
		}
		escapeStrings(&rs)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REQUEST\tSTATUS\tREQUESTER\tMACHINE\tPORT\tSOURCE\tEND\tUSED\tREASON")
		for _, r := range rs {
			for _, t := range r.Targets {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%s\t%s\t%s\t%s\t%s\n", r.ID, t.Status, r.RequesterName, t.MachineName, t.Port, t.Protocol, t.Source, ts8601(t.End), usedColumn(t), t.Reason)
			}
		}
		return tw.Flush()
	})
	return cmd
}

// usedColumn is the USED column of the request list: the bytes counted, "no"
// for an open or ended grant with no traffic, "unknown" for one whose agent
// never reported its counters, "-" for one that never opened.
func usedColumn(t d.Target) string {
	switch {
	case t.Usage.Used():
		return d.FormatBytes(t.Usage.Bytes)
	case t.AppliedAt.IsZero() && t.Usage == nil:
		return "-"
	case t.Usage == nil:
		return string(d.UsedUnknown)
	}
	return "no"
}
