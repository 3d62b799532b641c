package main

import (
	"context"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/spf13/cobra"
)

func newRevokeCmd(e *env) *cobra.Command {
	var in d.RevokeInput
	cmd := &cobra.Command{
		Use:   "revoke REQUEST_ID",
		Short: "End a request's access now (--terminate also cuts established connections)",
		Example: `  drawbridge revoke req_… --reason "done"
  drawbridge revoke req_… --terminate`,
		Args: cobra.ExactArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.Flags().BoolVar(&in.Terminate, "terminate", false, "also cut established connections (conntrack)")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why, for the record")
	cmd.RunE = requestVerb(e, cf, func(ctx context.Context, c *client.Client, id d.RequestID) (*d.Request, error) {
		return c.Revoke(ctx, id, in)
	})
	return cmd
}
