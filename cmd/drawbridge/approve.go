package main

import (
	"context"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/spf13/cobra"
)

func newApproveCmd(e *env) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "approve REQUEST_ID",
		Short:   "Approve a pending request (or its pending extension)",
		Example: `  drawbridge approve req_… --reason "matches INC-1234"`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	cmd.RunE = requestVerb(e, cf, func(ctx context.Context, c *client.Client, id d.RequestID) (*d.Request, error) {
		return c.Approve(ctx, id, d.DecisionInput{Reason: reason})
	})
	return cmd
}
