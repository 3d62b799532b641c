package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/app"
	"github.com/drawbridge/drawbridge/internal/control"
)

type serverFlags struct {
	dataDir, listen, database string
	hostnames, trusted        []string
	maxDuration               string
	agentTimeout, offline     time.Duration
	clockSkewWarn             time.Duration
	logLevel                  string
	dev, listenSet            bool         // --dev; --listen given (set in RunE)
	oidc                      oidcFlags    // server_oidc.go
	audit                     auditFlags   // server_audit.go
	webhook                   webhookFlags // server_webhook.go
}

func newServerCmd(e *env) *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Drawbridge server",
		Long: `Run the Drawbridge server: the API, the agents' endpoint and the expiry
sweeper, over HTTPS with its own CA.

The first start creates DATA_DIR/ca.pem (the CA agents pin and clients trust)
and DATA_DIR/admin.token (the first admin API token, mode 0600). Data is kept
in SQLite in DATA_DIR unless --database names a PostgreSQL server. Every bad
flag is reported at once.

--dev starts a throwaway server for trying things out (as "nomad agent -dev"):
its data directory is a new temporary directory, deleted when it stops; it
listens on loopback only and prints the admin token. Never use it for real
machines.`,
		Example: `  drawbridge server --data-dir ./data --listen 127.0.0.1:8443
  drawbridge server --data-dir /var/lib/drawbridge --database postgres://drawbridge@db/drawbridge
  drawbridge server --dev`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.listenSet = cmd.Flags().Changed("listen")
			return runServer(cmd.Context(), e, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", "/var/lib/drawbridge", "directory for the CA, the admin token and the SQLite database")
	fl.StringVar(&f.listen, "listen", ":8443", "HTTPS listen address, host:port")
	fl.StringVar(&f.database, "database", "", "postgres://… to use PostgreSQL (default: SQLite in the data directory)")
	fl.StringSliceVar(&f.hostnames, "hostname", nil, "extra DNS name or IP for the server certificate (repeatable)")
	fl.StringSliceVar(&f.trusted, "trusted-proxy", nil, "CIDR of a reverse proxy whose X-Forwarded-For is honoured (repeatable)")
	fl.StringVar(&f.maxDuration, "max-duration", "24h", "longest access anyone may configure or request")
	fl.DurationVar(&f.agentTimeout, "agent-timeout", 20*time.Second, "an agent silent this long counts as offline (--wait fails at once)")
	fl.DurationVar(&f.offline, "offline-after", 10*time.Minute, "an agent silent this long makes its machine Unsupported")
	fl.DurationVar(&f.clockSkewWarn, "clock-skew-warn", control.DefaultClockSkewWarn, "warn about a machine whose agent's clock is off from the server's by more than this (0 turns the warning off)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&f.dev, "dev", false, "for trying things out only: SQLite in a temporary directory deleted on exit, loopback ("+devListen+" unless --listen), admin token printed")
	f.oidc.register(fl)
	f.audit.register(fl)
	f.webhook.register(fl)
	return cmd
}

func newLogger(w interface{ Write([]byte) (int, error) }, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// config turns the flags into a validated server configuration, reporting
// every bad flag at once (each message names its flag).
func (f *serverFlags) config() (app.Config, error) {
	var errs []error
	if _, err := newLogger(io.Discard, f.logLevel); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, f.audit.check(), f.webhook.check())
	maxDur, err := d.ParseDuration(f.maxDuration)
	if err != nil || maxDur.Std() < time.Minute {
		errs = append(errs, fmt.Errorf("--max-duration: want a duration of at least 1m"))
	}
	var trusted []netip.Prefix
	for _, t := range f.trusted {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("--trusted-proxy %q: want a CIDR such as 10.0.0.5/32", t))
			continue
		}
		trusted = append(trusted, p.Masked())
	}
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port", f.listen))
	}
	if f.dev {
		if f.database != "" {
			errs = append(errs, errors.New("--dev keeps its data in SQLite in a temporary directory: drop --database"))
		}
		if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
			errs = append(errs, fmt.Errorf("--listen %q: --dev listens on loopback only (127.0.0.1, ::1 or localhost)", f.listen))
		}
	}
	verifier, err := f.oidc.verifier()
	errs = append(errs, err)
	hosts := append([]string{}, f.hostnames...)
	if host != "" && host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	}
	if hn, err := os.Hostname(); err == nil {
		hosts = append(hosts, hn)
	}
	cfg := app.Config{
		DataDir:        f.dataDir,
		Database:       f.database,
		Hostnames:      hosts,
		TrustedProxies: trusted,
		Control:        control.Config{ServerCap: maxDur.Std(), OnlineWindow: f.agentTimeout, OfflineAfter: f.offline, ClockSkewWarn: skewWarn(f.clockSkewWarn)},
		OIDC:           verifier,
		Audit:          f.audit.config(),
		Webhook:        f.webhook.config(),
	}
	return cfg, errors.Join(errs...)
}

func runServer(ctx context.Context, e *env, f *serverFlags) error {
	if f.dev {
		if !f.listenSet {
			f.listen = devListen
		}
		dir, err := os.MkdirTemp("", "drawbridge-dev-")
		if err != nil {
			return fmt.Errorf("--dev: %w", err)
		}
		defer os.RemoveAll(dir)
		f.dataDir = dir
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	log, _ := newLogger(e.stderr, f.logLevel) // checked by config
	srv, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		srv.Close()
		return err
	}
	addr := ln.Addr().String()
	clientAddr := addr
	if h, p, _ := net.SplitHostPort(addr); h == "::" || h == "0.0.0.0" {
		clientAddr = net.JoinHostPort("127.0.0.1", p)
	}
	fmt.Fprint(e.stderr, startBanner(addr, clientAddr, srv.DB.Dialect(), cfg.DataDir, srv.CA.Pin(), srv.AdminToken != ""))
	if f.dev {
		fmt.Fprint(e.stderr, devBanner(cfg.DataDir, srv.AdminToken))
	}
	return srv.Serve(ctx, ln)
}

// devListen is where --dev listens unless --listen says otherwise.
const devListen = "127.0.0.1:8443"

// devBanner tells the user what --dev is, and gives the admin token itself.
func devBanner(dataDir, token string) string {
	return fmt.Sprintf(`  admin token: %s
DEV MODE, for trying Drawbridge out only: data is kept in SQLite in %s,
which is DELETED when this server stops (Ctrl-C). Do not enroll real machines.
`, token, dataDir)
}

// startBanner is what the server prints once it listens: where it is, the
// files a client needs (absolute paths, so they work from any directory)
// and the next commands to run.
func startBanner(addr, clientAddr, dialect, dataDir, pin string, first bool) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	caPath, tokenPath := filepath.Join(dataDir, "ca.pem"), filepath.Join(dataDir, "admin.token")
	var b strings.Builder
	fmt.Fprintf(&b, "drawbridge server listening on https://%s (database: %s)\n", addr, dialect)
	if first {
		b.WriteString("  first start: created the CA and the first admin token\n")
	}
	fmt.Fprintf(&b, "  CA certificate  %s   pin %s\n  admin token     %s\n", caPath, pin, tokenPath)
	fmt.Fprintf(&b, `next, in another shell:
  export DRAWBRIDGE_ADDR=https://%s DRAWBRIDGE_CACERT=%s DRAWBRIDGE_TOKEN=$(cat %s)
  drawbridge join-token create     # prints the command that enrolls a machine's agent
`, clientAddr, caPath, tokenPath)
	return b.String()
}

// skewWarn maps --clock-skew-warn to control.Config.ClockSkewWarn, where 0
// means the default: a flag of 0 (or less) turns the warning off.
func skewWarn(v time.Duration) time.Duration {
	if v <= 0 {
		return -1
	}
	return v
}
