package control

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// Config holds the server-wide settings the use cases need.
type Config struct {
	ServerCap       time.Duration // longest duration anyone may set or ask for (default 24h)
	OfflineAfter    time.Duration // agent silent this long: machine Unsupported (default 10m)
	OnlineWindow    time.Duration // agent silent longer than this (and not watching here): offline for --wait (default 20s)
	AgentCertTTL    time.Duration // agent client certificate lifetime (default 7 days)
	RecheckInterval time.Duration // long-poll re-reads the database this often, for peers' changes (default 2s)
	DefaultDuration time.Duration // request duration when none is given, capped by the rule (default 1h)
	ClockSkewWarn   time.Duration // an agent's clock off by more than this shows a warning (default 2s; negative: never)
}

func (c *Config) setDefaults() {
	if c.ServerCap == 0 {
		c.ServerCap = d.DefaultServerCap
	}
	if c.OfflineAfter == 0 {
		c.OfflineAfter = 10 * time.Minute
	}
	if c.OnlineWindow == 0 {
		c.OnlineWindow = 20 * time.Second
	}
	if c.AgentCertTTL == 0 {
		c.AgentCertTTL = 7 * 24 * time.Hour
	}
	if c.RecheckInterval == 0 {
		c.RecheckInterval = 2 * time.Second
	}
	if c.DefaultDuration == 0 {
		c.DefaultDuration = time.Hour
	}
	if c.ClockSkewWarn == 0 {
		c.ClockSkewWarn = DefaultClockSkewWarn
	}
}

// Limits on the number of rows a listing returns (those of the store).
const (
	DefaultLimit = store.DefaultLimit
	MaxLimit     = store.MaxLimit
)

// DefaultClockSkewWarn is the default Config.ClockSkewWarn.
const DefaultClockSkewWarn = 2 * time.Second

// Signer issues agent client certificates; internal/pki implements it.
type Signer interface {
	SignAgentCSR(csrPEM []byte, machineID string, ttl time.Duration, now time.Time) ([]byte, time.Time, error)
	CAPEM() []byte
}

// Observer receives measurements for metrics. Any field may be nil.
type Observer struct {
	Applied func(latency time.Duration) // request → rule confirmed in the kernel
}

// Service runs the use cases. It is safe for concurrent use.
type Service struct {
	db     *store.DB
	log    *slog.Logger
	now    func() time.Time
	hub    *Hub
	signer Signer
	obs    Observer
	cfg    Config

	refusals *refusalLimiter // which refused attempts are audited (refusals.go)
}

// New returns a Service. now is the clock (time.Now in production).
func New(db *store.DB, log *slog.Logger, now func() time.Time, hub *Hub, signer Signer, obs Observer, cfg Config) *Service {
	cfg.setDefaults()
	return &Service{db: db, log: log, now: now, hub: hub, signer: signer, obs: obs, cfg: cfg, refusals: newRefusalLimiter()}
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// event builds an audit event for actor at now. Its free text is validated
// or cleaned where it enters; CleanText here is the last guard, so that no
// event can hold what a JSON or CSV export cannot carry byte for byte.
func event(now time.Time, a d.Actor, action, target, result, reason string, req d.RequestID, details any) *d.Event {
	clean := func(s string) string { return d.CleanText(s, d.MaxEventText) }
	e := &d.Event{
		Time: now, Actor: clean(a.Subject()), ActorName: clean(a.Name), Action: action, Target: clean(target),
		Result: result, Reason: clean(reason), RequestID: req,
	}
	if a.Source.IsValid() {
		e.ActorSource = a.Source.String()
	}
	if details != nil {
		b, err := json.Marshal(details)
		if err == nil {
			e.Details = string(b)
		}
	}
	return e
}

// audit appends a success event in tx.
func (s *Service) audit(tx *store.Tx, now time.Time, a d.Actor, action, target, reason string, req d.RequestID, details any) error {
	if err := tx.EventAppend(event(now, a, action, target, d.ResultSuccess, reason, req, details)); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// AuditFailure records a refused or failed attempt in its own transaction
// (the attempted change itself was rolled back). Errors are logged, not
// returned: failing to record a refusal must not change the refusal.
func (s *Service) AuditFailure(ctx context.Context, a d.Actor, action, target string, cause error) {
	e := event(s.now(), a, action, target, d.ResultFailure, publicMessage(cause), "", nil)
	if err := s.update(ctx, func(tx *store.Tx, _ time.Time) error { return tx.EventAppend(e) }); err != nil {
		s.log.Error("audit failure event", "action", action, "err", err)
	}
}

func publicMessage(err error) string {
	if e := d.AsError(err); e != nil && e.Kind != d.Internal {
		return e.Message
	}
	return "internal error"
}

// machineRef resolves a machine by ID or by name.
func machineRef(tx *store.Tx, ref string) (*d.Machine, error) {
	if ref == "" {
		return nil, d.FieldErrorf("machine", "machine is required")
	}
	if d.ValidID(ref, d.MachinePrefix) {
		return tx.Machine(d.MachineID(ref))
	}
	if len(ref) > 63 {
		return nil, d.FieldErrorf("machine", "machine name too long")
	}
	return tx.MachineByName(ref)
}
