package main

import (
	"context"
	"fmt"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/spf13/cobra"
)

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
	cf := addClientFlags(e, cmd)
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
