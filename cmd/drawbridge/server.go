package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/control"
	"github.com/drawbridge/drawbridge/internal/pki"
	"github.com/drawbridge/drawbridge/internal/store"
	"github.com/drawbridge/drawbridge/internal/web"
)

type serverFlags struct {
	dataDir, listen, database string
	hostnames, trusted        []string
	maxDuration               string
	agentTimeout, offline     time.Duration
	clockSkewWarn             time.Duration
	logLevel                  string
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
in SQLite in DATA_DIR unless --database names a PostgreSQL server.`,
		Example: `  drawbridge server --data-dir ./data --listen 127.0.0.1:8443
  drawbridge server --data-dir /var/lib/drawbridge --database postgres://drawbridge@db/drawbridge`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServer(cmd.Context(), e, f) },
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

func runServer(ctx context.Context, e *env, f *serverFlags) error {
	log, err := newLogger(e.stderr, f.logLevel)
	if err != nil {
		return err
	}
	if err := f.audit.check(); err != nil {
		return err
	}
	if err := f.webhook.check(); err != nil {
		return err
	}
	maxDur, err := d.ParseDuration(f.maxDuration)
	if err != nil || maxDur.Std() < time.Minute {
		return fmt.Errorf("--max-duration: want a duration of at least 1m")
	}
	var trusted []netip.Prefix
	for _, t := range f.trusted {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return fmt.Errorf("--trusted-proxy %q: want a CIDR such as 10.0.0.5/32", t)
		}
		trusted = append(trusted, p.Masked())
	}
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want host:port", f.listen)
	}
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	hosts := append([]string{}, f.hostnames...)
	if host != "" && host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	}
	if hn, err := os.Hostname(); err == nil {
		hosts = append(hosts, hn)
	}
	ca, err := pki.LoadOrCreate(f.dataDir, hosts, time.Now())
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	db, err := store.Open(ctx, f.database, f.dataDir, log)
	if err != nil {
		return err
	}
	defer db.Close()

	var svc *control.Service
	metrics := web.NewMetrics(func(ctx context.Context) (int, error) { return svc.ActiveGrants(ctx) })
	metrics.WatchDatabase(db.Full, db.ReserveReleases)
	svc = control.New(db, log, time.Now, control.NewHub(), ca, control.Observer{Applied: metrics.ObserveApplied}, control.Config{ServerCap: maxDur.Std(), OnlineWindow: f.agentTimeout, OfflineAfter: f.offline, ClockSkewWarn: skewWarn(f.clockSkewWarn)})

	tokenPath := filepath.Join(f.dataDir, "admin.token")
	admin, err := svc.Bootstrap(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if admin != "" {
		if err := writeSecretFile(tokenPath, []byte(admin+"\n")); err != nil {
			return fmt.Errorf("write admin token: %w", err)
		}
	}

	verifier, err := f.oidc.verifier(ctx, log)
	if err != nil {
		return err
	}
	cookieKey, err := loadOrCreateKey(filepath.Join(f.dataDir, "cookie.key"))
	if err != nil {
		return fmt.Errorf("cookie key: %w", err)
	}
	handler := web.New(svc, log, web.Options{
		OIDC:           verifier,
		CookieKey:      cookieKey,
		TrustedProxies: trusted,
		Metrics:        metrics,
		Ready:          db.Ping,
		MachineIDOf:    func(c *x509.Certificate) (string, error) { return pki.MachineIDFromCert(c) },
		CAPin:          ca.Pin(),
	})
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return err
	}
	// Requests run under ctx: when the server stops, long-polls and waits
	// end at once instead of holding shutdown (and the database) open.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return ctx },
		Handler:           handler,
		TLSConfig:         ca.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second, // long-polls and --wait answer within 60s
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	addr := ln.Addr().String()
	clientAddr := addr
	if h, p, _ := net.SplitHostPort(addr); h == "::" || h == "0.0.0.0" {
		clientAddr = net.JoinHostPort("127.0.0.1", p)
	}
	fmt.Fprint(e.stderr, startBanner(addr, clientAddr, db.Dialect(), f.dataDir, ca.Pin(), admin != ""))

	var wg sync.WaitGroup
	wg.Go(func() { svc.RunExpiry(ctx, time.Second) })
	wg.Go(func() { svc.RunIdleClose(ctx, time.Second) })
	f.audit.start(ctx, &wg, svc, f.dataDir, log)
	f.webhook.start(ctx, &wg, db, log)
	wg.Go(func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close() // past the grace period: cut what is left before the database closes
		}
	})
	err = srv.ServeTLS(ln, "", "")
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		log.Info("server stopped")
		return nil
	}
	return err
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

// writeSecretFile writes data to name with mode 0600 whatever existed there
// before: a new file is written beside it and renamed over it.
func writeSecretFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-secret-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// skewWarn maps --clock-skew-warn to control.Config.ClockSkewWarn, where 0
// means the default: a flag of 0 (or less) turns the warning off.
func skewWarn(v time.Duration) time.Duration {
	if v <= 0 {
		return -1
	}
	return v
}
