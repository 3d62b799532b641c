package store

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	d "github.com/drawbridge/drawbridge"
)

// TestClassifyDiskFull: PostgreSQL's disk_full (53100) is Unavailable with a
// message that says the disk is full, by its code, however wrapped; other
// insufficient-resources codes are not a full disk (issue 7, item 5).
func TestClassifyDiskFull(t *testing.T) {
	full := fmt.Errorf("exec: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file: No space left on device"})
	err := classify("append event", full, "")
	if e := d.AsError(err); e == nil || e.Kind != d.Unavailable || e.Message != errDiskFull.Message || !errors.Is(err, full) {
		t.Errorf("classify(53100) = %v, want Unavailable saying the disk is full, wrapping the cause", err)
	}
	if isFull(&pgconn.PgError{Code: "53300"}) { // too_many_connections
		t.Error("53300 counted as a full disk")
	}

	// Without a reserve (PostgreSQL) the DB is Full from the error on, until
	// a write commits or fullFor passes.
	db := &DB{dialect: Postgres, log: slog.New(slog.DiscardHandler)}
	db.noteFull(full)
	if !db.Full() {
		t.Error("not Full after a disk-full error")
	}
	db.fullAt.Store(time.Now().Add(-fullFor - time.Second).UnixNano())
	if db.Full() {
		t.Errorf("still Full %s after the last disk-full error", fullFor)
	}
}
