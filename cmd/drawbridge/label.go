package main

import (
	"fmt"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/spf13/cobra"
)

func newLabelCmd(e *env) *cobra.Command {
	var remove []string
	cmd := &cobra.Command{
		Use:     "label MACHINE [KEY=VALUE...] [--remove KEY]",
		Short:   "Set or remove a machine's labels (admin)",
		Example: `  drawbridge label web-1 env=prod team=web --remove stage`,
		Args:    cobra.MinimumNArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.Flags().StringSliceVar(&remove, "remove", nil, "label key to remove (repeatable)")
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		set, err := parseLabels(args[1:])
		if err != nil {
			return err
		}
		m, err := c.MachineLabels(cmd.Context(), args[0], d.LabelsInput{Set: set, Remove: remove})
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, m)
		}
		fmt.Fprintf(e.stdout, "%s labels: %s\n", safe(m.Name), safe(orDash(labelList(m.Labels))))
		return nil
	})
	return cmd
}
