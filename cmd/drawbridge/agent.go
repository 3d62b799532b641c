package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/agent"
	"github.com/drawbridge/drawbridge/internal/firewall"
	"github.com/drawbridge/drawbridge/internal/inventory"
)

type agentFlags struct {
	server, joinToken, caPin, name, dataDir string
	labels                                  []string
	cleanup                                 bool
	logLevel                                string
	usageInterval                           time.Duration
}

// agentDataDir is the agent's default data directory, the one the README,
// the systemd unit and the command printed by join-token create use.
const agentDataDir = "/var/lib/drawbridge-agent"

func newAgentCmd(e *env) *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the host agent (needs CAP_NET_ADMIN)",
		Long: `Run the host agent. It enrolls once with a join token (the key is made on this
host), then keeps the nftables table "inet drawbridge" equal to what the
server says: protected ports closed, grants open for their remaining time.
Grants close in the kernel at their end time even if the agent is stopped.

--cleanup removes every rule Drawbridge made on this host and exits.`,
		Example: `  drawbridge agent --server https://10.0.0.5:8443 --join-token jtk_….… --ca-pin sha256:… --data-dir /var/lib/drawbridge-agent
  drawbridge agent --cleanup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(cmd.Context(), e, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "server URL, https://host:port (only to enroll)")
	fl.StringVar(&f.joinToken, "join-token", "", "join token from 'drawbridge join-token create' (only to enroll)")
	fl.StringVar(&f.caPin, "ca-pin", "", "sha256:… pin of the server's CA (only to enroll)")
	fl.StringVar(&f.name, "name", "", "machine name (default: the hostname)")
	fl.StringSliceVar(&f.labels, "labels", nil, "labels key=value, comma separated (at enrollment)")
	fl.StringVar(&f.dataDir, "data-dir", agentDataDir, "directory for the agent's key and certificate")
	fl.BoolVar(&f.cleanup, "cleanup", false, "remove Drawbridge's nftables table from this host and exit")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.DurationVar(&f.usageInterval, "usage-interval", 5*time.Second, "how often to read the grants' traffic counters and report what changed (the precision of \"last used\" and of idle close)")
	return cmd
}

func runAgent(ctx context.Context, e *env, f *agentFlags) error {
	log, err := newLogger(e.stderr, f.logLevel)
	if err != nil {
		return err
	}
	fw, err := firewall.Open(firewall.Options{Logger: log})
	if errors.Is(err, errors.ErrUnsupported) {
		return err // not Linux: "the agent runs only on Linux"
	}
	if err != nil {
		return fmt.Errorf("nftables: %w (the agent needs root or CAP_NET_ADMIN)", err)
	}
	defer fw.Close()
	if f.cleanup {
		if err := fw.Remove(); err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		fmt.Fprintln(e.stdout, "removed table inet drawbridge; no Drawbridge rule is left on this host")
		return nil
	}
	labels, err := parseLabels(f.labels)
	if err != nil {
		return err
	}
	a := agent.New(agent.Config{
		Server: f.server, JoinToken: f.joinToken, CAPin: f.caPin, Name: f.name, Labels: labels,
		DataDir: f.dataDir, Version: version, UsageInterval: f.usageInterval,
	}, log, fw, func(ctx context.Context) d.Inventory { return collectInventory(ctx, log) })
	return a.Run(ctx)
}

func parseLabels(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--labels %q: want key=value", kv)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if err := d.ValidateLabels(out); err != nil {
		return nil, err
	}
	return out, nil
}

// collectInventory maps the host's inventory to the wire type, with the
// nftables capability probe.
func collectInventory(ctx context.Context, log *slog.Logger) d.Inventory {
	inv, err := inventory.Collect(ctx)
	if err != nil {
		log.Warn("collect inventory", "err", err)
	}
	out := d.Inventory{Hostname: inv.Hostname, OS: inv.OS, Distribution: inv.Distribution, Kernel: inv.Kernel, Firewall: "nftables"}
	if out.OS == "" {
		out.OS = "linux"
	}
	for _, a := range inv.Addresses {
		out.Addresses = append(out.Addresses, a.String())
	}
	for _, l := range inv.Listening {
		out.Listening = append(out.Listening, d.Listener{Protocol: d.Protocol(l.Protocol), Address: l.Address.String(), Port: l.Port})
	}
	if err := firewall.Supported(0); err != nil {
		out.Firewall, out.FirewallError = "", err.Error()
	}
	return out
}
