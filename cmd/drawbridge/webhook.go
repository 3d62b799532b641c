package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

func newWebhookCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage outbound notification webhooks (admin)",
		Long: `Webhooks receive a signed POST when a request is created, needs approval,
is approved or denied, becomes active, is about to expire, expires, is revoked
or fails. Each delivery is signed with the webhook's secret in the header

  Drawbridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

Failed deliveries are retried with exponential backoff; after the server's
--webhook-max-attempts failures they are dead ("webhook deliveries --dead")
until retried ("webhook retry"). See the README's Notifications section.`,
		Example: `  drawbridge webhook create --url https://hooks.example.com/drawbridge --secret-file hook.secret
  drawbridge webhook list
  drawbridge webhook deliveries --dead`,
	}
	cmd.AddCommand(newWebhookCreateCmd(e), newWebhookListCmd(e), newWebhookDeleteCmd(e),
		newWebhookTestCmd(e), newWebhookDeliveriesCmd(e), newWebhookRetryCmd(e))
	return cmd
}

func newWebhookCreateCmd(e *env) *cobra.Command {
	var in d.WebhookInput
	var events []string
	var format, secretFile string
	cmd := &cobra.Command{
		Use:   "create --url URL [--secret-file FILE] [--events KIND,...] [--format json|slack]",
		Short: "Register a webhook",
		Long: `Register a webhook. The URL must be https; --allow-http permits plain http to
a loopback address only, for testing. Without --secret or --secret-file the
server generates a secret; it is printed once, here, and never shown again.
Events (default all): ` + strings.Join(kindNames(), ", ") + `.`,
		Example: `  drawbridge webhook create --url https://hooks.example.com/drawbridge --secret-file /etc/drawbridge/hook.secret
  drawbridge webhook create --url https://hooks.slack.com/services/T000/B000/XXXX --format slack --events request.approval_needed,request.expiring
  drawbridge webhook create --url http://127.0.0.1:9000/hook --allow-http`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(e, cmd)
	fl := cmd.Flags()
	fl.StringVar(&in.URL, "url", "", "where to POST notifications (https)")
	fl.StringVar(&in.Secret, "secret", "", "signing secret, 16 to 256 characters (prefer --secret-file: arguments are visible to other users)")
	fl.StringVar(&secretFile, "secret-file", "", "read the signing secret from this file (surrounding whitespace is trimmed)")
	fl.StringSliceVar(&events, "events", nil, "notification kinds to send, comma-separated (default all)")
	fl.StringVar(&format, "format", "json", "body format: json (signed Notification) or slack (Slack-compatible message)")
	fl.BoolVar(&in.AllowHTTP, "allow-http", false, "allow a plain http URL to a loopback address (testing)")
	cmd.MarkFlagsMutuallyExclusive("secret", "secret-file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if secretFile != "" {
			b, err := os.ReadFile(secretFile)
			if err != nil {
				return fmt.Errorf("--secret-file: %w", err)
			}
			in.Secret = strings.TrimSpace(string(b))
		}
		in.Format = d.WebhookFormat(format)
		for _, k := range events {
			in.Events = append(in.Events, d.NotificationKind(strings.TrimSpace(k)))
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		w, err := c.WebhookCreate(cmd.Context(), in)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, w)
		}
		fmt.Fprintf(e.stdout, "%s: %s (%s) for %s\n", w.ID, w.URL, w.Format, joinKindList(w.Kinds))
		if in.Secret == "" {
			fmt.Fprintf(e.stdout, "secret (shown once; receivers verify Drawbridge-Signature with it): %s\n", w.Secret)
		}
		return nil
	}
	return cmd
}

func newWebhookListCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List webhooks (secrets are never shown)", Args: cobra.NoArgs,
		Example: `  drawbridge webhook list
  drawbridge webhook list -o json`}
	cf := addClientFlags(e, cmd)
	cmd.RunE = listRunE(e, cf, (*client.Client).Webhooks, "ID\tURL\tFORMAT\tEVENTS\tCREATED BY", func(w d.Webhook) string {
		return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", w.ID, w.URL, w.Format, joinKindList(w.Kinds), w.CreatedBy)
	})
	return cmd
}

func newWebhookDeleteCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "delete WEBHOOK_ID", Short: "Delete a webhook and its deliveries", Args: cobra.ExactArgs(1),
		Example: `  drawbridge webhook delete whk_0123456789abcdef`}
	cf := addClientFlags(e, cmd)
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		if err := c.WebhookDelete(cmd.Context(), d.WebhookID(args[0])); err != nil {
			return err
		}
		return printOutcome(e, cf, map[string]string{"deleted": args[0]}, "deleted "+args[0])
	})
	return cmd
}

func newWebhookTestCmd(e *env) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:     "test WEBHOOK_ID [--wait 15s]",
		Short:   "Send a webhook.test notification and show the receiver's answer",
		Example: `  drawbridge webhook test whk_0123456789abcdef`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Second, "how long to wait for the first attempt (0: queue it and return)")
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		v, err := c.WebhookTest(cmd.Context(), d.WebhookID(args[0]))
		if err != nil {
			return err
		}
		if wait > 0 {
			if v, err = awaitAttempt(cmd.Context(), c, v.ID, wait); err != nil {
				return err
			}
		}
		if cf.json() {
			return printJSON(e.stdout, v)
		}
		escapeStrings(v)
		switch {
		case v.Status == d.DeliveryDelivered:
			fmt.Fprintf(e.stdout, "%s delivered: HTTP %d\n", v.ID, v.LastStatus)
		case v.Attempts == 0:
			fmt.Fprintf(e.stdout, "%s queued; see \"drawbridge webhook deliveries --webhook %s\"\n", v.ID, args[0])
		default:
			return fmt.Errorf("%s failed: %s (retrying; see \"drawbridge webhook deliveries --webhook %s\")", v.ID, v.LastError, args[0])
		}
		return nil
	})
	return cmd
}

// awaitAttempt polls a delivery until its first attempt is recorded or wait
// passes.
func awaitAttempt(ctx context.Context, c *client.Client, id d.DeliveryID, wait time.Duration) (*d.Delivery, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		v, err := c.Delivery(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return &d.Delivery{ID: id}, nil
			}
			return nil, err
		}
		if v.Attempts > 0 || v.Status != d.DeliveryPending {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, nil
		case <-t.C:
		}
	}
}

func newWebhookDeliveriesCmd(e *env) *cobra.Command {
	var f client.DeliveryFilter
	var webhook, status string
	var dead bool
	cmd := &cobra.Command{
		Use:   "deliveries [--webhook ID] [--dead | --status STATUS]",
		Short: "List deliveries, newest first; --dead lists the dead-letter records",
		Example: `  drawbridge webhook deliveries --dead
  drawbridge webhook deliveries --webhook whk_0123456789abcdef --limit 20`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(e, cmd)
	cmd.Flags().StringVar(&webhook, "webhook", "", "only this webhook's deliveries")
	cmd.Flags().BoolVar(&dead, "dead", false, "only dead deliveries (same as --status dead)")
	cmd.Flags().StringVar(&status, "status", "", "only deliveries in this status: pending, delivered or dead")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "at most this many (default 100)")
	cmd.MarkFlagsMutuallyExclusive("dead", "status")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f.WebhookID, f.Status = d.WebhookID(webhook), d.DeliveryStatus(status)
		if dead {
			f.Status = d.DeliveryDead
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		vs, err := c.Deliveries(cmd.Context(), f)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, vs)
		}
		escapeStrings(&vs)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tWEBHOOK\tEVENT\tREQUEST\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
		for _, v := range vs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", v.ID, v.WebhookID, v.Kind, orDash(string(v.RequestID)), v.Status, v.Attempts,
				orDash(ts8601(v.NextAttempt)), orDash(v.LastError))
		}
		return tw.Flush()
	}
	return cmd
}

func newWebhookRetryCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "retry DELIVERY_ID",
		Short:   "Retry a dead delivery with a fresh set of attempts",
		Example: `  drawbridge webhook retry dlv_0123456789abcdefghij`,
		Args:    cobra.ExactArgs(1),
	}
	cf := addClientFlags(e, cmd)
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		v, err := c.DeliveryRetry(cmd.Context(), d.DeliveryID(args[0]))
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, v)
		}
		fmt.Fprintf(e.stdout, "%s queued again\n", v.ID)
		return nil
	})
	return cmd
}

func kindNames() []string {
	var s []string
	for _, k := range d.NotificationKinds() {
		s = append(s, string(k))
	}
	return s
}

func joinKindList(ks []d.NotificationKind) string {
	if len(ks) == len(d.NotificationKinds()) {
		return "all"
	}
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}
