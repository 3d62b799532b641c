package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/drawbridge/drawbridge/internal/app"
	"github.com/drawbridge/drawbridge/internal/notify"
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

// check validates the flags before the server starts, reporting every
// problem at once.
func (f *webhookFlags) check() error {
	var errs []error
	if f.lead < 0 {
		errs = append(errs, fmt.Errorf("--webhook-expiring-lead must not be negative"))
	}
	if f.maxAttempts < 1 || f.maxAttempts > 50 {
		errs = append(errs, fmt.Errorf("--webhook-max-attempts: want 1 to 50"))
	}
	if f.timeout < time.Second || f.timeout > 2*time.Minute {
		errs = append(errs, fmt.Errorf("--webhook-timeout: want 1s to 2m"))
	}
	return errors.Join(errs...)
}

// config returns the server's webhook settings.
func (f *webhookFlags) config() app.WebhookConfig {
	return app.WebhookConfig{Lead: f.lead, MaxAttempts: f.maxAttempts, Timeout: f.timeout}
}
