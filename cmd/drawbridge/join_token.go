package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

func newJoinTokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "join-token", Short: "Manage agent join tokens",
		Example: `  drawbridge join-token create --ttl 1h --uses 5 --labels env=prod
  drawbridge join-token list
  drawbridge join-token revoke jtk_…`}
	var ttl string
	var uses int
	var labels []string
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a join token and print the agent command line to run",
		Example: `  drawbridge join-token create --ttl 1h --uses 5 --labels env=prod`,
		Args:    cobra.NoArgs,
	}
	cf := addClientFlags(e, create)
	create.Flags().StringVar(&ttl, "ttl", "1h", "how long the token can be used")
	create.Flags().IntVar(&uses, "uses", 1, "how many agents may enroll with it")
	create.Flags().StringSliceVar(&labels, "labels", nil, "labels given to machines that enroll with it, key=value")
	create.RunE = clientRunE(cf, func(cmd *cobra.Command, _ []string, c *client.Client) error {
		l, err := parseLabels(labels)
		if err != nil {
			return err
		}
		tok, pin, info, err := c.JoinTokenCreate(cmd.Context(), d.JoinTokenInput{TTL: ttl, Uses: uses, Labels: l})
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, map[string]any{"token": tok, "ca_pin": pin, "info": info})
		}
		fmt.Fprintf(e.stdout, "join token (shown once, valid until %s, %d use(s)):\n  %s\n\nrun on each machine, as root:\n  drawbridge agent --server %s --join-token %s --ca-pin %s --data-dir %s\n",
			info.ExpiresAt.UTC().Format("2006-01-02 15:04:05Z"), info.MaxUses, tok, cf.addr, tok, pin, agentDataDir)
		return nil
	})
	list := &cobra.Command{Use: "list", Short: "List join tokens: uses, expiry, labels (never the secret)", Args: cobra.NoArgs,
		Example: `  drawbridge join-token list
  drawbridge join-token list -o json`}
	lf := addClientFlags(e, list)
	list.RunE = listRunE(e, lf, (*client.Client).JoinTokens, "ID\tSTATUS\tUSES\tEXPIRES\tLABELS\tCREATED BY", func(j d.JoinToken) string {
		return fmt.Sprintf("%s\t%s\t%d/%d\t%s\t%s\t%s", j.ID, joinTokenStatus(j, time.Now()), j.Uses, j.MaxUses, ts8601(j.ExpiresAt), orDash(labelList(j.Labels)), j.CreatedBy)
	})
	revoke := &cobra.Command{
		Use:     "revoke JOIN_TOKEN_ID",
		Short:   "End a join token at once: no more agents can enroll with it",
		Long:    "End a join token at once: no more agents can enroll with it. Machines that\nalready enrolled with it are not affected. The audit log records who revoked it.",
		Example: `  drawbridge join-token revoke jtk_0123456789abcdef`,
		Args:    cobra.ExactArgs(1),
	}
	rf := addClientFlags(e, revoke)
	revoke.RunE = clientRunE(rf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		if err := c.JoinTokenRevoke(cmd.Context(), d.JoinTokenID(args[0])); err != nil {
			return err
		}
		return printOutcome(e, rf, map[string]string{"revoked": args[0]}, "revoked "+args[0])
	})
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// joinTokenStatus is a join token's state at now: usable, used up or
// expired (a revoked token expired when it was revoked).
func joinTokenStatus(j d.JoinToken, now time.Time) string {
	switch {
	case j.Uses >= j.MaxUses:
		return "used up"
	case !now.Before(j.ExpiresAt):
		return "expired"
	}
	return "usable"
}

// labelList is "k=v,k2=v2", sorted.
func labelList(l map[string]string) string {
	kv := make([]string, 0, len(l))
	for k, v := range l {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
