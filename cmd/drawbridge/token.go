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

	var name, role, ttl, scope, owner string
	create := &cobra.Command{
		Use:   "create --name NAME --role ROLE [--owner PERSON] [--scope SCOPE] [--ttl TTL]",
		Short: "Create an API token (shown once)",
		Long: `Create an API token (shown once).

--owner names the person the token is for, as your identity provider names
them (alice@example.com, or user:alice@example.com). Rules that count people
count owners, not tokens: nobody approves a request made with a token they
own, and two tokens of one owner are one approver towards a quorum. Without
--owner the token belongs to you, the creator: give --owner whenever you make
a token for someone else.

--role none makes a token with no role of its own, which has only what role
bindings on token:<ID> give it. --ttl is from 1m to 366 days (8784h); without
it the token never expires.`,
		Example: `  drawbridge token create --name alice --owner alice@example.com --role requester --ttl 720h
  drawbridge token create --name ann --owner ann@example.com --role approver --scope env=prod
  drawbridge token create --name deploy-bot --owner deploy-bot --role requester --scope env=dev
  drawbridge token create --name robot --role none   # then: drawbridge binding create --subject token:tok_…`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(e, create)
	create.Flags().StringVar(&name, "name", "", "who or what the token is for")
	create.Flags().StringVar(&role, "role", "requester", "admin, policy-admin, requester, reader, auditor, approver, or none (only what bindings give)")
	create.Flags().StringVar(&ttl, "ttl", "", "expiry, 1m to 366 days, e.g. 720h (default: never)")
	create.Flags().StringVar(&scope, "scope", "*", "where the role applies: *, machine:<name>, or a label selector such as env=dev")
	create.Flags().StringVar(&owner, "owner", "", "the person the token is for, e.g. alice@example.com (default: you)")
	create.RunE = clientRunE(cf, func(cmd *cobra.Command, _ []string, c *client.Client) error {
		tok, info, err := c.TokenCreate(cmd.Context(), d.TokenInput{Name: name, Role: d.Role(role), TTL: ttl, Scope: scope, Owner: owner})
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, map[string]any{"token": tok, "info": info})
		}
		fmt.Fprintf(e.stdout, "%s\n", tok)
		fmt.Fprintf(e.stderr, "token %s for %q (owner %s) with role %s at scope %s (shown once; store it now)\n", info.ID, info.Name, info.Owner, orDash(string(info.Role)), info.Scope)
		return nil
	})

	list := &cobra.Command{Use: "list", Short: "List API tokens", Args: cobra.NoArgs,
		Example: `  drawbridge token list
  drawbridge token list -o json`}
	lf := addClientFlags(e, list)
	list.RunE = listRunE(e, lf, (*client.Client).Tokens, "ID\tNAME\tOWNER\tROLE\tSCOPE\tCREATED\tEXPIRES\tREVOKED", func(t d.Token) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", t.ID, t.Name, orDash(t.Owner), orDash(string(t.Role)), t.Scope, ts8601(t.CreatedAt), orDash(ts8601(t.ExpiresAt)), orDash(ts8601(t.RevokedAt)))
	})

	var revokeGrants bool
	revoke := &cobra.Command{
		Use:   "revoke TOKEN_ID [--revoke-grants]",
		Short: "Revoke an API token",
		Long: `Revoke an API token at once. Access already granted with it stays open
until its end unless --revoke-grants is given, which revokes those requests
in the same step (the command lists them either way).`,
		Example: `  drawbridge token revoke tok_0123456789abcdef
  drawbridge token revoke tok_0123456789abcdef --revoke-grants   # offboarding: end its open access too`,
		Args: cobra.ExactArgs(1),
	}
	rf := addClientFlags(e, revoke)
	revoke.Flags().BoolVar(&revokeGrants, "revoke-grants", false, "also revoke every open request made with the token")
	revoke.RunE = clientRunE(rf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		out, err := c.TokenRevoke(cmd.Context(), d.TokenID(args[0]), revokeGrants)
		if err != nil {
			return err
		}
		if rf.json() {
			return printJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "revoked %s\n", args[0])
		printRevoked(e, out, "end them now with `drawbridge token revoke "+args[0]+" --revoke-grants`")
		return nil
	})
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// printRevoked reports the requests ended with a token or binding, or
// offers (how) to end those still open.
func printRevoked(e *env, out *d.Revoked, how string) {
	if len(out.RevokedRequests) > 0 {
		fmt.Fprintf(e.stdout, "revoked %d open request(s): %s\n", len(out.RevokedRequests), joinIDs(out.RevokedRequests))
	}
	if len(out.OpenRequests) > 0 {
		fmt.Fprintf(e.stdout, "%d request(s) made by this subject stay open until their end: %s\n%s\n",
			len(out.OpenRequests), joinIDs(out.OpenRequests), how)
	}
}

func joinIDs(ids []d.RequestID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}
