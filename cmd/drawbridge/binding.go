package main

import (
	"fmt"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

func newBindingCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "binding", Short: "Bind users, groups or tokens to roles at a scope",
		Example: `  drawbridge binding create --subject group:oncall --role approver --scope env=prod
  drawbridge binding list
  drawbridge binding delete bnd_…`}
	var in d.BindingInput
	create := &cobra.Command{
		Use:   "create --subject SUBJECT --role ROLE [--scope SCOPE]",
		Short: "Give a subject a role at a scope",
		Long: `Give a subject a role at a scope. Subjects: user:<name> and group:<name>
(as the identity provider names them) or token:<token ID>. Scopes: * (everything,
the default), machine:<name>, or a label selector such as env=prod,team=db.`,
		Example: `  drawbridge binding create --subject group:oncall --role approver --scope env=prod
  drawbridge binding create --subject user:alice@example.com --role requester --scope machine:web-1`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(e, create)
	create.Flags().StringVar(&in.Subject, "subject", "", "user:<name>, group:<name> or token:<ID>")
	create.Flags().StringVar((*string)(&in.Role), "role", "", "built-in or custom role")
	create.Flags().StringVar(&in.Scope, "scope", "*", "*, machine:<name>, or a label selector")
	create.RunE = clientRunE(cf, func(cmd *cobra.Command, _ []string, c *client.Client) error {
		b, err := c.BindingCreate(cmd.Context(), in)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, b)
		}
		fmt.Fprintf(e.stdout, "%s: %s has role %s at scope %s\n", b.ID, b.Subject, b.Role, b.Scope)
		return nil
	})
	list := &cobra.Command{Use: "list", Short: "List role bindings", Args: cobra.NoArgs,
		Example: `  drawbridge binding list
  drawbridge binding list -o json`}
	lf := addClientFlags(e, list)
	list.RunE = listRunE(e, lf, (*client.Client).Bindings, "ID\tSUBJECT\tROLE\tSCOPE\tCREATED BY", func(b d.Binding) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", b.ID, b.Subject, b.Role, b.Scope, b.CreatedBy)
	})
	var revokeGrants bool
	del := &cobra.Command{
		Use:   "delete BINDING_ID [--revoke-grants]",
		Short: "Delete a role binding",
		Long: `Delete a role binding. Access the subject was already granted stays open
until its end unless --revoke-grants is given, which revokes the subject's
open requests in the same step (not for a group: Drawbridge does not know
its members; end each person's requests).`,
		Example: `  drawbridge binding delete bnd_0123456789abcdef
  drawbridge binding delete bnd_0123456789abcdef --revoke-grants   # offboarding: end their open access too`,
		Args: cobra.ExactArgs(1),
	}
	df := addClientFlags(e, del)
	del.Flags().BoolVar(&revokeGrants, "revoke-grants", false, "also revoke every open request the subject made")
	del.RunE = clientRunE(df, func(cmd *cobra.Command, args []string, c *client.Client) error {
		out, err := c.BindingDelete(cmd.Context(), args[0], revokeGrants)
		if err != nil {
			return err
		}
		if df.json() {
			return printJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "deleted %s\n", args[0])
		printRevoked(e, out, "end each now with `drawbridge revoke REQ`")
		return nil
	})
	cmd.AddCommand(create, list, del)
	return cmd
}
