package main

import (
	"fmt"
	"strings"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/spf13/cobra"
)

func newRoleCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "List roles and manage custom roles",
		Example: `  drawbridge role list
  drawbridge role create db-operator --action requests/initiate --action machines/read
  drawbridge role delete db-operator`}
	var actions []string
	create := &cobra.Command{
		Use:     "create NAME --action ACTION...",
		Short:   "Define a custom role as a list of actions",
		Example: `  drawbridge role create db-operator --action requests/initiate --action policies/read --action machines/read`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(e, create)
	create.Flags().StringSliceVar(&actions, "action", nil, "an action (repeatable): "+strings.Join(actionNames(), ", "))
	create.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		r := d.CustomRole{Name: d.Role(args[0])}
		for _, a := range actions {
			r.Actions = append(r.Actions, d.Action(a))
		}
		out, err := c.RoleCreate(cmd.Context(), r)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "role %s: %s\n", out.Name, joinActions(out.Actions))
		return nil
	})
	list := &cobra.Command{Use: "list", Short: "List built-in and custom roles with their actions", Args: cobra.NoArgs,
		Example: `  drawbridge role list`}
	lf := addClientFlags(e, list)
	list.RunE = listRunE(e, lf, (*client.Client).Roles, "ROLE\tKIND\tACTIONS", func(r client.RoleInfo) string {
		kind := "custom"
		if r.BuiltIn {
			kind = "built-in"
		}
		return fmt.Sprintf("%s\t%s\t%s", r.Name, kind, joinActions(r.Actions))
	})
	del := &cobra.Command{Use: "delete NAME", Short: "Delete a custom role that no binding uses", Args: cobra.ExactArgs(1),
		Example: `  drawbridge role delete db-operator`}
	df := addClientFlags(e, del)
	del.RunE = clientRunE(df, func(cmd *cobra.Command, args []string, c *client.Client) error {
		if err := c.RoleDelete(cmd.Context(), d.Role(args[0])); err != nil {
			return err
		}
		return printOutcome(e, df, map[string]string{"deleted": args[0]}, "deleted role "+args[0])
	})
	cmd.AddCommand(create, list, del)
	return cmd
}

func actionNames() []string {
	var s []string
	for _, a := range d.AllActions() {
		s = append(s, string(a))
	}
	return s
}

func joinActions(as []d.Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
