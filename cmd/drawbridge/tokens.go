package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

func newTokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens for people and automation",
		Example: `  drawbridge token create --role requester --name alice --ttl 720h
  drawbridge token list
  drawbridge token revoke tok_…`}

	var name, role, ttl, scope string
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create an API token (shown once)",
		Example: `  drawbridge token create --role requester --name alice --ttl 720h`,
		Args:    cobra.NoArgs,
	}
	cf := addClientFlags(create)
	create.Flags().StringVar(&name, "name", "", "who or what the token is for")
	create.Flags().StringVar(&role, "role", "requester", "admin, policy-admin, requester, approver, reader or auditor")
	create.Flags().StringVar(&ttl, "ttl", "", "expiry, e.g. 720h (default: never)")
	create.Flags().StringVar(&scope, "scope", "*", "where the role applies: *, machine:<name>, or a label selector such as env=dev")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		tok, info, err := c.TokenCreate(cmd.Context(), d.TokenInput{Name: name, Role: d.Role(role), TTL: ttl, Scope: scope})
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, map[string]any{"token": tok, "info": info})
		}
		fmt.Fprintf(e.stdout, "%s\n", tok)
		fmt.Fprintf(e.stderr, "token %s for %q with role %s at scope %s (shown once; store it now)\n", info.ID, info.Name, info.Role, info.Scope)
		return nil
	}

	list := &cobra.Command{Use: "list", Short: "List API tokens", Args: cobra.NoArgs,
		Example: `  drawbridge token list
  drawbridge token list -o json`}
	lf := addClientFlags(list)
	list.RunE = listRunE(e, lf, (*client.Client).Tokens, "ID\tNAME\tROLE\tCREATED\tEXPIRES\tREVOKED", func(t d.Token) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", t.ID, t.Name, t.Role, ts8601(t.CreatedAt), orDash(ts8601(t.ExpiresAt)), orDash(ts8601(t.RevokedAt)))
	})

	revoke := &cobra.Command{Use: "revoke TOKEN_ID", Short: "Revoke an API token", Args: cobra.ExactArgs(1),
		Example: `  drawbridge token revoke tok_0123456789abcdef`}
	rf := addClientFlags(revoke)
	revoke.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := rf.client()
		if err != nil {
			return err
		}
		if err := c.TokenRevoke(cmd.Context(), d.TokenID(args[0])); err != nil {
			return err
		}
		return printOutcome(e, rf, map[string]string{"revoked": args[0]}, "revoked "+args[0])
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newWhoamiCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "whoami", Short: "Show who the token belongs to and what it may do", Args: cobra.NoArgs,
		Example: `  drawbridge whoami
  drawbridge whoami -o json`}
	cf := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
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
		if len(a.Groups) > 0 {
			fmt.Fprintf(e.stdout, "groups: %s\n", strings.Join(a.Groups, ", "))
		}
		if len(a.Grants) > 0 {
			gs := make([]string, len(a.Grants))
			for i, g := range a.Grants {
				gs[i] = string(g.Role) + " at " + string(g.Scope)
			}
			fmt.Fprintf(e.stdout, "grants: %s\n", strings.Join(gs, ", "))
		}
		fmt.Fprintf(e.stdout, "actions: %s\n", strings.Join(s, ", "))
		return nil
	}
	return cmd
}
