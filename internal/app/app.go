// Package app is Drawbridge's composition root: it wires the store, the
// CA, the control service, the web handler and the background loops (expiry,
// idle close, audit sinks and retention, webhook dispatch) from one validated
// Config. `drawbridge server` (cmd/drawbridge, which turns flags into a
// Config), the web tests and the CLI script tests all build their server
// with New, so there is no second copy of the wiring to drift.
//
// Imports go one way: cmd/drawbridge → app → web → control → store →
// the vocabulary.
package app

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/drawbridge/drawbridge/internal/audit"
	"github.com/drawbridge/drawbridge/internal/control"
	"github.com/drawbridge/drawbridge/internal/notify"
	"github.com/drawbridge/drawbridge/internal/oidc"
	"github.com/drawbridge/drawbridge/internal/pki"
	"github.com/drawbridge/drawbridge/internal/store"
	"github.com/drawbridge/drawbridge/internal/web"
)

// Config is a validated server configuration. cmd/drawbridge builds it from
// flags (reporting every bad flag at once); tests build it directly.
type Config struct {
	DataDir        string         // the CA, the admin token, the cookie key, SQLite and sink cursors
	Database       string         // "" for SQLite in DataDir, or a postgres:// DSN
	Hostnames      []string       // names and IPs for the server certificate
	TrustedProxies []netip.Prefix // reverse proxies whose X-Forwarded-For is honoured
	Control        control.Config // the service's limits and timings
	OIDC           *oidc.Verifier // OIDC sign-in; nil: off (API tokens only)
	Audit          AuditConfig
	Webhook        WebhookConfig

	// For tests.
	Now          func() time.Time // the service's clock; nil: time.Now
	StoreOptions []store.Option   // passed to store.Open
}

// AuditConfig is the audit retention and the SIEM sinks.
type AuditConfig struct {
	Retention  time.Duration // prune events older than this, after archiving them (0: keep)
	ArchiveDir string        // JSON Lines archives written before pruning
	JSONL      string        // append every event to this file
	Syslog     audit.Sink    // send every event here (nil: off)
}

// WebhookConfig is the webhook dispatcher's settings.
type WebhookConfig struct {
	Lead        time.Duration // send request.expiring this long before a grant ends (0: never)
	MaxAttempts int           // failed attempts before a delivery is dead (0: notify's default)
	Timeout     time.Duration // longest wait for a receiver's answer, per attempt (0: notify's default)
}

// Server is a wired Drawbridge server. Its fields are for tests and the
// start-up banner; Serve runs it.
type Server struct {
	DB         *store.DB
	Service    *control.Service
	Hub        *control.Hub
	CA         *pki.Authority
	Handler    *web.Server
	AdminToken string // the first admin token when this start created it, else ""

	cfg Config
	log *slog.Logger
}

// New opens the database, loads (or creates) the CA, bootstraps the first
// admin token (written to DataDir/admin.token, mode 0600) and builds the
// handler. Close releases the database; Serve closes it too.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	ca, err := pki.LoadOrCreate(cfg.DataDir, cfg.Hostnames, time.Now())
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	db, err := store.Open(ctx, cfg.Database, cfg.DataDir, log, cfg.StoreOptions...)
	if err != nil {
		return nil, err
	}
	s, err := wire(ctx, cfg, log, ca, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func wire(ctx context.Context, cfg Config, log *slog.Logger, ca *pki.Authority, db *store.DB) (*Server, error) {
	var svc *control.Service
	metrics := web.NewMetrics(func(ctx context.Context) (int, error) { return svc.ActiveGrants(ctx) })
	metrics.WatchDatabase(db.Full, db.ReserveReleases)
	hub := control.NewHub()
	svc = control.New(db, log, cfg.Now, hub, ca, control.Observer{Applied: metrics.ObserveApplied}, cfg.Control)

	admin, err := svc.Bootstrap(ctx)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if admin != "" {
		if err := writeSecretFile(filepath.Join(cfg.DataDir, "admin.token"), []byte(admin+"\n")); err != nil {
			return nil, fmt.Errorf("write admin token: %w", err)
		}
	}
	cookieKey, err := loadOrCreateKey(filepath.Join(cfg.DataDir, "cookie.key"))
	if err != nil {
		return nil, fmt.Errorf("cookie key: %w", err)
	}
	handler := web.New(svc, log, web.Options{
		OIDC:           cfg.OIDC,
		CookieKey:      cookieKey,
		TrustedProxies: cfg.TrustedProxies,
		Metrics:        metrics,
		Ready:          db.Ping,
		MachineIDOf:    func(c *x509.Certificate) (string, error) { return pki.MachineIDFromCert(c) },
		CAPin:          ca.Pin(),
	})
	return &Server{DB: db, Service: svc, Hub: hub, CA: ca, Handler: handler, AdminToken: admin, cfg: cfg, log: log}, nil
}

// Close closes the database. Call it only when Serve is not called.
func (s *Server) Close() error { return s.DB.Close() }

// Serve serves HTTPS on ln and runs the background loops until ctx is done,
// then shuts down (5s grace for open requests) and closes the database. It
// returns nil after a clean stop.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.DB.Close()
	log := s.log
	if v := s.cfg.OIDC; v != nil {
		// Discovery is tried once, only to warn early: sign-in retries it
		// when the issuer is down, and API tokens work regardless.
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := v.Discover(dctx); err != nil {
			log.Warn("oidc issuer not reachable yet; sign-in will retry", "issuer", v.Config().Issuer, "err", err)
		} else {
			log.Info("oidc sign-in enabled", "issuer", v.Config().Issuer, "client_id", v.Config().ClientID)
		}
		cancel()
	}
	// Requests run under ctx: when the server stops, long-polls and waits
	// end at once instead of holding shutdown (and the database) open.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return ctx },
		Handler:           s.Handler,
		TLSConfig:         s.CA.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second, // long-polls and --wait answer within 60s
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.Service.RunExpiry(ctx, time.Second) })
	wg.Go(func() { s.Service.RunIdleClose(ctx, time.Second) })
	s.startAudit(ctx, &wg)
	s.startWebhooks(ctx, &wg)
	wg.Go(func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close() // past the grace period: cut what is left before the database closes
		}
	})
	err := srv.ServeTLS(ln, "", "")
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		log.Info("server stopped")
		return nil
	}
	return err
}

// startAudit runs the retention loop and one tailer per sink under wg until
// ctx is done. Sink cursors are kept in DataDir (audit-<sink>.cursor), so a
// restart resumes after the last delivered event.
func (s *Server) startAudit(ctx context.Context, wg *sync.WaitGroup) {
	f, svc, log := s.cfg.Audit, s.Service, s.log
	if f.Retention > 0 {
		wg.Go(func() { svc.RunRetention(ctx, f.Retention, f.ArchiveDir, time.Hour) })
	}
	run := func(name string, sink audit.Sink) {
		t := &audit.Tailer{Name: name, Source: svc.AuditSource(), Sink: sink, CursorFile: filepath.Join(s.cfg.DataDir, "audit-"+name+".cursor"), Log: log}
		wg.Go(func() {
			if err := t.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("audit sink stopped", "sink", name, "err", err)
			}
		})
	}
	if f.JSONL != "" {
		run("jsonl", audit.NewFileSink(f.JSONL))
	}
	if f.Syslog != nil {
		run("syslog", f.Syslog)
	}
}

// startWebhooks runs the webhook dispatcher under wg until ctx is done.
func (s *Server) startWebhooks(ctx context.Context, wg *sync.WaitGroup) {
	w := s.cfg.Webhook
	p := notify.New(s.DB, notify.NewSender(w.Timeout, nil), s.log, time.Now, notify.Config{Lead: w.Lead, MaxAttempts: w.MaxAttempts})
	wg.Go(func() { p.Run(ctx) })
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

// loadOrCreateKey reads a 32-byte secret key from path, creating it (0600)
// on first start, so sign-ins survive restarts of this server.
func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	if err := os.WriteFile(filepath.Clean(path), b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}
