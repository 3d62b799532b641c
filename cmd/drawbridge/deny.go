package main

import (
	"context"
	"fmt"
	"strings"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/spf13/cobra"
)

func newDenyCmd(e *env) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "deny REQUEST_ID --reason TEXT",
		Short:   "Deny a pending request (or its pending extension)",
		Example: `  drawbridge deny req_… --reason "no ticket"`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.RunE = requestVerb(e, cf, func(ctx context.Context, c *client.Client, id d.RequestID) (*d.Request, error) {
		if strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("--reason is required to deny")
		}
		return c.Deny(ctx, id, d.DecisionInput{Reason: reason})
	})
	return cmd
}
