package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/drawbridge/drawbridge/internal/app"
	"github.com/drawbridge/drawbridge/internal/audit"
)

// auditFlags are the server's audit settings: retention and the SIEM sinks.
type auditFlags struct {
	retention  time.Duration
	archiveDir string
	jsonl      string
	syslog     string
}

func (f *auditFlags) register(fl *pflag.FlagSet) {
	fl.DurationVar(&f.retention, "audit-retention", 0, "prune audit events older than this, after exporting them to --audit-archive-dir (0: keep forever)")
	fl.StringVar(&f.archiveDir, "audit-archive-dir", "", "directory for the JSON Lines archives written before pruning (required with --audit-retention)")
	fl.StringVar(&f.jsonl, "audit-jsonl", "", "append every audit event to this file as JSON Lines (for a SIEM; at least once)")
	fl.StringVar(&f.syslog, "audit-syslog", "", "send every audit event as RFC 5424 syslog to udp://HOST:PORT or tcp://HOST:PORT (at least once)")
}

// check validates the flags before the server starts, reporting every
// problem at once.
func (f *auditFlags) check() error {
	var errs []error
	if f.retention < 0 {
		errs = append(errs, fmt.Errorf("--audit-retention must not be negative"))
	}
	if f.retention > 0 && f.retention < time.Hour {
		errs = append(errs, fmt.Errorf("--audit-retention: want at least 1h"))
	}
	if f.retention > 0 && f.archiveDir == "" {
		errs = append(errs, fmt.Errorf("--audit-retention needs --audit-archive-dir: events are exported before they are pruned"))
	}
	if f.syslog != "" {
		if _, err := audit.NewSyslogSink(f.syslog, ""); err != nil {
			errs = append(errs, fmt.Errorf("--audit-syslog: %w", err))
		}
	}
	return errors.Join(errs...)
}

// config returns the server's audit settings; call it after check.
func (f *auditFlags) config() app.AuditConfig {
	c := app.AuditConfig{Retention: f.retention, ArchiveDir: f.archiveDir, JSONL: f.jsonl}
	if f.syslog != "" {
		c.Syslog, _ = audit.NewSyslogSink(f.syslog, "") // checked by check
	}
	return c
}
