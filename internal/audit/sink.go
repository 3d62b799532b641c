package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Source reads committed events with IDs greater than after, oldest first,
// at most limit of them.
type Source func(ctx context.Context, after d.EventID, limit int) ([]d.Event, error)

// Sink receives batches of events in ID order. Send either delivers the
// whole batch or returns an error, after which the Tailer sends the same
// batch again: a sink sees an event at least once, and possibly more than
// once (receivers deduplicate by event ID or hash).
type Sink interface {
	Send(ctx context.Context, es []d.Event) error
	Close() error
}

// Tailer feeds one Sink from the events table, after commit: it polls
// Source by ID cursor (so a slow or broken sink never blocks a request),
// retries a failed batch with capped exponential backoff until it goes
// through, and keeps the cursor in CursorFile so a restart resumes where it
// stopped. Delivery is at least once: a batch sent but not yet recorded in
// the cursor file when the server stops is sent again on the next start.
type Tailer struct {
	Name       string        // for logs: "jsonl" or "syslog"
	Source     Source        // committed events after an ID
	Sink       Sink          // where they go
	CursorFile string        // the last delivered ID; "" keeps it in memory only (starts at 0)
	Poll       time.Duration // how often to look for new events (default 1s)
	MaxBackoff time.Duration // longest wait between retries (default 1m)
	Batch      int           // events per Send (default 500)
	Log        *slog.Logger
}

// Run tails until ctx is done, then closes the sink. It returns only
// ctx's error or an unusable cursor file.
func (t *Tailer) Run(ctx context.Context) error {
	defer t.Sink.Close()
	poll, maxBackoff, batch := t.Poll, t.MaxBackoff, t.Batch
	if poll <= 0 {
		poll = time.Second
	}
	if maxBackoff <= 0 {
		maxBackoff = time.Minute
	}
	if batch <= 0 {
		batch = 500
	}
	log := t.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cursor, err := readCursor(t.CursorFile)
	if err != nil {
		return err
	}
	failures := 0
	for {
		wait := poll
		es, err := t.Source(ctx, cursor, batch)
		if err == nil && len(es) > 0 {
			err = t.Sink.Send(ctx, es)
			if err == nil {
				cursor = es[len(es)-1].ID
				if werr := writeCursor(t.CursorFile, cursor); werr != nil {
					log.Warn("audit sink cursor not saved", "sink", t.Name, "err", werr)
				}
				if len(es) == batch {
					wait = 0 // more are waiting
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			// Full jitter, exponential from the poll interval up to maxBackoff.
			ceil := min(poll<<min(failures, 16), maxBackoff)
			wait = ceil/2 + time.Duration(rand.Int64N(int64(ceil/2)+1))
			log.Warn("audit sink failed; retrying", "sink", t.Name, "after_id", cursor, "failures", failures, "retry_in", wait, "err", err)
		} else if failures > 0 {
			log.Info("audit sink recovered", "sink", t.Name, "after_failures", failures)
			failures = 0
		}
		if wait == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

func readCursor(path string) (d.EventID, error) {
	if path == "" {
		return 0, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit sink cursor: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("audit sink cursor %s: not an event ID", path)
	}
	return d.EventID(n), nil
}

func writeCursor(path string, id d.EventID) error {
	if path == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cursor-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(strconv.FormatInt(int64(id), 10) + "\n")
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// FileSink appends events to a file as JSON Lines (one event per line,
// exactly as the API returns it), creating it with mode 0600, and syncs the
// file after each batch. It is not safe for concurrent use.
type FileSink struct {
	path string
	f    *os.File
}

// NewFileSink returns a sink appending to path. The file is opened on the
// first Send and reopened after a write error (so a rotated or deleted file
// is recreated).
func NewFileSink(path string) *FileSink { return &FileSink{path: path} }

// Send appends es and syncs the file.
func (s *FileSink) Send(ctx context.Context, es []d.Event) error {
	if s.f == nil {
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		s.f = f
	}
	var b []byte
	for i := range es {
		j, err := json.Marshal(&es[i])
		if err != nil {
			return err
		}
		b = append(append(b, j...), '\n')
	}
	_, err := s.f.Write(b)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		s.f.Close()
		s.f = nil
	}
	return err
}

// Close closes the file.
func (s *FileSink) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
