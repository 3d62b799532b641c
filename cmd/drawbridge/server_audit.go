package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/drawbridge/drawbridge/internal/audit"
	"github.com/drawbridge/drawbridge/internal/control"
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

// check validates the flags before the server starts.
func (f *auditFlags) check() error {
	if f.retention < 0 {
		return fmt.Errorf("--audit-retention must not be negative")
	}
	if f.retention > 0 && f.retention < time.Hour {
		return fmt.Errorf("--audit-retention: want at least 1h")
	}
	if f.retention > 0 && f.archiveDir == "" {
		return fmt.Errorf("--audit-retention needs --audit-archive-dir: events are exported before they are pruned")
	}
	if f.syslog != "" {
		if _, err := audit.NewSyslogSink(f.syslog, ""); err != nil {
			return fmt.Errorf("--audit-syslog: %w", err)
		}
	}
	return nil
}

// start runs the retention loop and one tailer per sink under wg until ctx
// is done. Sink cursors are kept in dataDir (audit-<sink>.cursor), so a
// restart resumes after the last delivered event.
func (f *auditFlags) start(ctx context.Context, wg *sync.WaitGroup, svc *control.Service, dataDir string, log *slog.Logger) {
	if f.retention > 0 {
		wg.Go(func() { svc.RunRetention(ctx, f.retention, f.archiveDir, time.Hour) })
	}
	run := func(name string, sink audit.Sink) {
		t := &audit.Tailer{Name: name, Source: svc.AuditSource(), Sink: sink, CursorFile: filepath.Join(dataDir, "audit-"+name+".cursor"), Log: log}
		wg.Go(func() {
			if err := t.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("audit sink stopped", "sink", name, "err", err)
			}
		})
	}
	if f.jsonl != "" {
		run("jsonl", audit.NewFileSink(f.jsonl))
	}
	if f.syslog != "" {
		s, _ := audit.NewSyslogSink(f.syslog, "") // checked by check
		run("syslog", s)
	}
}
