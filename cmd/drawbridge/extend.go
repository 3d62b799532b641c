package main

import (
	"context"
	"fmt"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/spf13/cobra"
)

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
	cf := addClientFlags(e, cmd)
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
