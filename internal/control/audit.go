package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
	"github.com/drawbridge/drawbridge/internal/store"
)

// HeadSigner signs the audit head: a SHA-256 digest signed with the server's
// CA key (internal/pki.Authority implements it). When the Service's Signer
// does not implement it, AuditHead returns an unsigned head.
type HeadSigner interface {
	SignDigest(digest []byte) ([]byte, error)
}

// EventFilter selects audit events. Zero fields select everything. It has
// the fields of store.EventFilter, which it converts to.
type EventFilter struct {
	AfterID   d.EventID   // events with a greater ID: a cursor
	Since     time.Time   // events at or after Since
	Until     time.Time   // events before Until
	Action    string      // events with this action (see the drawbridge.Ev* constants)
	Target    string      // events on this target
	Actor     string      // events by this subject
	User      string      // events by this subject ("token:tok_…") or actor name
	RequestID d.RequestID // events about this request
	// Machine selects events about a machine: on it (target), by its agent,
	// or about a request with a target on it (matched by machine ID, or by
	// MachineName for machines since deleted).
	Machine     d.MachineID
	MachineName string
	Limit       int // EventsPage: at most this many; 0 means DefaultLimit, more than MaxLimit means MaxLimit. EventsEach: 0 means all
}

// AuditCheck is an exported head to check the chain against: the event ID
// must still have this hash (hex).
type AuditCheck struct {
	ID   d.EventID
	Hash string
}

// AuditFilter resolves f's machine reference (a name or ID; a name that no
// longer exists still matches the history of the machine that had it).
func (s *Service) auditFilter(tx *store.Tx, machine string, f *store.EventFilter) error {
	if machine == "" {
		return nil
	}
	m, err := machineRef(tx, machine)
	switch {
	case err == nil:
		f.Machine, f.MachineName = m.ID, m.Name
	case d.ErrorKind(err) == d.NotFound && d.ValidID(machine, d.MachinePrefix):
		f.Machine = d.MachineID(machine)
	case d.ErrorKind(err) == d.NotFound:
		f.MachineName = machine
	default:
		return err
	}
	return nil
}

// EventsPage returns up to f.Limit events f selects (machine: a name or ID,
// see auditFilter), oldest first. Needs audit/read.
func (s *Service) EventsPage(ctx context.Context, a d.Actor, machine string, ef EventFilter) ([]d.Event, error) {
	if err := s.require(a, d.ActAuditRead); err != nil {
		return nil, err
	}
	f := store.EventFilter(ef)
	var es []d.Event
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		if err := s.auditFilter(tx, machine, &f); err != nil {
			return err
		}
		var err error
		es, err = tx.Events(f)
		return err
	})
	return es, err
}

// EventsEach calls fn for every event f selects, oldest first, as the
// database returns them, all from one consistent snapshot: an export of any
// size runs in constant memory. f.Limit 0 means all. fn's error stops the
// walk and is returned. Needs audit/read.
func (s *Service) EventsEach(ctx context.Context, a d.Actor, machine string, ef EventFilter, fn func(*d.Event) error) error {
	if err := s.require(a, d.ActAuditRead); err != nil {
		return err
	}
	f := store.EventFilter(ef)
	return s.db.Read(ctx, func(tx *store.Tx) error {
		if err := s.auditFilter(tx, machine, &f); err != nil {
			return err
		}
		return tx.EventsEach(f, fn)
	})
}

// AuditVerify walks the whole chain and reports the first altered, deleted
// or reordered event; check, if not nil, is an exported head the chain must
// still contain. Needs audit/read.
func (s *Service) AuditVerify(ctx context.Context, a d.Actor, check *AuditCheck) (d.AuditReport, error) {
	if err := s.require(a, d.ActAuditRead); err != nil {
		return d.AuditReport{}, err
	}
	var r d.AuditReport
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		r, err = tx.VerifyChain((*store.AuditCheck)(check))
		return err
	})
	return r, err
}

// AuditHead returns the chain's newest event ID and hash, signed with the
// CA key, to be kept outside the server. Needs audit/read.
func (s *Service) AuditHead(ctx context.Context, a d.Actor) (d.AuditHead, error) {
	if err := s.require(a, d.ActAuditRead); err != nil {
		return d.AuditHead{}, err
	}
	var h d.AuditHead
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		id, hash, err := tx.AuditHead()
		h.ID, h.Hash = id, hash
		return err
	})
	if err != nil {
		return h, err
	}
	h.Time = s.now().UTC().Truncate(time.Microsecond)
	if hs, ok := s.signer.(HeadSigner); ok {
		if err := audit.SignHead(&h, hs.SignDigest); err != nil {
			return h, err
		}
	}
	return h, nil
}

// AuditPrune applies a retention period: events older than now-retention
// (as a prefix of the chain) are first exported as JSON Lines to
// archiveDir/events-<first>-<last>.jsonl (written to a temporary file,
// synced, then renamed), then deleted in one transaction that records a
// prune anchor and an audit.pruned event. It returns nil when nothing is
// old enough. Run by the server only (no actor: retention is configuration).
func (s *Service) AuditPrune(ctx context.Context, retention time.Duration, archiveDir string) (*d.AuditAnchor, error) {
	if retention <= 0 || archiveDir == "" {
		return nil, d.Errorf(d.Invalid, "retention needs a positive period and an archive directory")
	}
	now := s.now()
	var upTo, from d.EventID
	var path string
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		if upTo, err = tx.PruneBoundary(now.Add(-retention)); err != nil {
			return err
		}
		anchor, err := tx.AuditAnchor()
		if err != nil {
			return err
		}
		if anchor != nil {
			from = anchor.ID
		}
		if upTo <= from {
			upTo = 0
			return nil
		}
		path = filepath.Join(archiveDir, fmt.Sprintf("events-%d-%d.jsonl", from+1, upTo))
		return writeArchive(path, func(w audit.Writer) error {
			errStop := errors.New("stop")
			err := tx.EventsEach(store.EventFilter{AfterID: from}, func(e *d.Event) error {
				if e.ID > upTo {
					return errStop
				}
				return w.Write(e)
			})
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		})
	})
	if err != nil || upTo == 0 {
		return nil, err
	}
	var a *d.AuditAnchor
	err = s.update(ctx, func(tx *store.Tx, _ time.Time) error {
		var err error
		if a, err = tx.EventsPrune(upTo, path, now); err != nil || a == nil {
			return err
		}
		return s.audit(tx, now, d.SystemActor, d.EvAuditPruned, fmt.Sprintf("events:%d-%d", from+1, upTo), "retention "+d.Duration(retention).String(), "",
			map[string]any{"anchor_id": a.ID, "anchor_hash": a.Hash, "count": a.Count, "archive": path})
	})
	if err != nil {
		return nil, err
	}
	if a != nil {
		s.log.Info("audit events pruned", "up_to", a.ID, "count", a.Count, "archive", path)
	}
	return a, nil
}

func writeArchive(path string, fill func(audit.Writer) error) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("audit archive: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".archive-*")
	if err != nil {
		return fmt.Errorf("audit archive: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := audit.NewJSONLWriter(f)
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("audit archive: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit archive: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit archive: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		return fmt.Errorf("audit archive: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("audit archive: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync() // make the rename durable before the events are deleted
		dir.Close()
	}
	return nil
}

// RunRetention prunes every interval until ctx is done. Failures are
// logged and retried at the next interval.
func (s *Service) RunRetention(ctx context.Context, retention time.Duration, archiveDir string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.AuditPrune(ctx, retention, archiveDir); err != nil && ctx.Err() == nil {
			s.log.Error("audit retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// AuditSource returns a reader of committed events for the SIEM sinks
// (audit.Tailer): the server's own, not an actor's.
func (s *Service) AuditSource() audit.Source {
	return func(ctx context.Context, after d.EventID, limit int) ([]d.Event, error) {
		var es []d.Event
		err := s.db.Read(ctx, func(tx *store.Tx) error {
			var err error
			es, err = tx.Events(store.EventFilter{AfterID: after, Limit: limit})
			return err
		})
		return es, err
	}
}

// machinesAccess reads the Configured tab's figures for every machine.
func machinesAccess(tx *store.Tx, now time.Time) (map[d.MachineID]store.MachineAccess, error) {
	return tx.MachinesAccess(now.Add(-7 * 24 * time.Hour))
}

func withAccess(v *d.MachineView, a store.MachineAccess) {
	v.ApprovedLast7d, v.LastAccess, v.LastUser = a.Approved7d, a.LastAccess, a.LastUser
}

// Events lists audit events after an ID, oldest first. Needs audit/read.
func (s *Service) Events(ctx context.Context, a d.Actor, f EventFilter) ([]d.Event, error) {
	if err := s.require(a, d.ActAuditRead); err != nil {
		return nil, err
	}
	var es []d.Event
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		es, err = tx.Events(store.EventFilter(f))
		return err
	})
	return es, err
}
