package main

import (
	"fmt"
	"strings"

	"github.com/drawbridge/drawbridge/client"
	"github.com/spf13/cobra"
)

func newWhoamiCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "whoami", Short: "Show who the token belongs to and what it may do", Args: cobra.NoArgs,
		Example: `  drawbridge whoami
  drawbridge whoami -o json`}
	cf := addClientFlags(e, cmd)
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, _ []string, c *client.Client) error {
		a, acts, err := c.Whoami(cmd.Context())
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, map[string]any{"actor": a, "actions": acts})
		}
		escapeStrings(&a)
		s := make([]string, len(acts))
		for i, x := range acts {
			s[i] = string(x)
		}
		role := ""
		if a.Role != "" {
			role = ", role " + string(a.Role)
		}
		fmt.Fprintf(e.stdout, "%s (%s%s) from %s\n", a.Name, a.Subject(), role, a.Source)
		if a.Owner != "" {
			fmt.Fprintf(e.stdout, "owner: %s (self-approval and quorums count this person)\n", a.Owner)
		}
		if len(a.Groups) > 0 {
			fmt.Fprintf(e.stdout, "groups: %s\n", strings.Join(a.Groups, ", "))
		}
		if len(a.RoleGrants) > 0 {
			gs := make([]string, len(a.RoleGrants))
			for i, g := range a.RoleGrants {
				gs[i] = string(g.Role) + " at " + string(g.Scope)
			}
			fmt.Fprintf(e.stdout, "grants: %s\n", strings.Join(gs, ", "))
		}
		fmt.Fprintf(e.stdout, "actions: %s\n", strings.Join(s, ", "))
		return nil
	})
	return cmd
}
