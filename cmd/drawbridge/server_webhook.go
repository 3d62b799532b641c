package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/drawbridge/drawbridge/internal/notify"
	"github.com/drawbridge/drawbridge/internal/store"
)

// webhookFlags are the server's notification settings. The webhooks
// themselves are managed with "drawbridge webhook".
type webhookFlags struct {
	lead        time.Duration
	maxAttempts int
	timeout     time.Duration
}

func (f *webhookFlags) register(fl *pflag.FlagSet) {
	fl.DurationVar(&f.lead, "webhook-expiring-lead", notify.DefaultLead, "send request.expiring this long before a grant ends (0: never)")
	fl.IntVar(&f.maxAttempts, "webhook-max-attempts", notify.DefaultMaxAttempts, "failed attempts before a webhook delivery is dead (then: drawbridge webhook retry)")
	fl.DurationVar(&f.timeout, "webhook-timeout", notify.DefaultTimeout, "longest wait for a webhook receiver's answer, per attempt")
}

// check validates the flags before the server starts.
func (f *webhookFlags) check() error {
	if f.lead < 0 {
		return fmt.Errorf("--webhook-expiring-lead must not be negative")
	}
	if f.maxAttempts < 1 || f.maxAttempts > 50 {
		return fmt.Errorf("--webhook-max-attempts: want 1 to 50")
	}
	if f.timeout < time.Second || f.timeout > 2*time.Minute {
		return fmt.Errorf("--webhook-timeout: want 1s to 2m")
	}
	return nil
}

// start runs the webhook dispatcher under wg until ctx is done.
func (f *webhookFlags) start(ctx context.Context, wg *sync.WaitGroup, db *store.DB, log *slog.Logger) {
	p := notify.New(db, notify.NewSender(f.timeout, nil), log, time.Now, notify.Config{Lead: f.lead, MaxAttempts: f.maxAttempts})
	wg.Go(func() { p.Run(ctx) })
}
