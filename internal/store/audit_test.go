package store_test

import (
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
	"github.com/drawbridge/drawbridge/internal/pgtest"
	"github.com/drawbridge/drawbridge/internal/store"
)

// rawDB opens a second, plain database/sql connection to the same database,
// playing an attacker with write access to it.
type rawOpener func(t *testing.T) (dsn, dir string, raw func(t *testing.T) *sql.DB)

func sqliteRaw(t *testing.T) (string, string, func(t *testing.T) *sql.DB) {
	dir := t.TempDir()
	return "", dir, func(t *testing.T) *sql.DB {
		db, err := sql.Open("sqlite", filepath.Join(dir, store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

func postgresRaw(t *testing.T) (string, string, func(t *testing.T) *sql.DB) {
	dsn := pgtest.DSN(t)
	return dsn, "", func(t *testing.T) *sql.DB {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

func TestAuditSQLite(t *testing.T)   { testAudit(t, store.SQLite, sqliteRaw) }
func TestAuditPostgres(t *testing.T) { testAudit(t, store.Postgres, postgresRaw) }

func testAudit(t *testing.T, dialect string, newDB rawOpener) {
	t.Run("Chain", func(t *testing.T) {
		dsn, dir, _ := newDB(t)
		testChain(t, open(t, dsn, dir))
	})
	t.Run("Tamper", func(t *testing.T) { testTamper(t, dialect, newDB) })
	t.Run("ConcurrentAppends", func(t *testing.T) {
		dsn, dir, _ := newDB(t)
		testConcurrentAppends(t, open(t, dsn, dir))
	})
	t.Run("Prune", func(t *testing.T) {
		dsn, dir, raw := newDB(t)
		testPrune(t, open(t, dsn, dir), raw(t), dialect)
	})
	t.Run("UpgradeChainsOldEvents", func(t *testing.T) {
		dsn, dir, raw := newDB(t)
		testUpgrade(t, dsn, dir, raw(t), dialect)
	})
	t.Run("EventsEachMachine", func(t *testing.T) {
		dsn, dir, _ := newDB(t)
		testEventsMachine(t, open(t, dsn, dir))
	})
	t.Run("MachinesAccess", func(t *testing.T) {
		dsn, dir, _ := newDB(t)
		testMachinesAccess(t, open(t, dsn, dir))
	})
}

// appendEvents appends n events, one minute apart from t0, one transaction each.
func appendEvents(t *testing.T, db *store.DB, n int) []d.Event {
	t.Helper()
	var out []d.Event
	for i := range n {
		e := &d.Event{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "token:tok_alice", ActorName: "alice", ActorSource: "192.0.2.1",
			Action: d.EvRequestCreated, Target: fmt.Sprintf("req_%012d", i), Result: d.ResultSuccess, Reason: fmt.Sprintf("ticket %d, «deploy»", i)}
		mustTx(t, db, func(tx *store.Tx) error { return tx.EventAppend(e) })
		out = append(out, *e)
	}
	return out
}

func verify(t *testing.T, db *store.DB, check *store.AuditCheck) d.AuditReport {
	t.Helper()
	var r d.AuditReport
	mustRead(t, db, func(tx *store.Tx) error {
		var err error
		r, err = tx.VerifyChain(check)
		return err
	})
	return r
}

func testChain(t *testing.T, db *store.DB) {
	if r := verify(t, db, nil); !r.OK || r.Checked != 0 {
		t.Fatalf("empty chain: %+v", r)
	}
	es := appendEvents(t, db, 5)
	prev := hex.EncodeToString(audit.Genesis)
	for i, e := range es {
		if e.ID != d.EventID(i+1) {
			t.Errorf("event %d has ID %d, want %d (no gaps)", i, e.ID, i+1)
		}
		if e.PrevHash != prev {
			t.Errorf("event %d: prev_hash %s, want %s", e.ID, e.PrevHash, prev)
		}
		prev = e.Hash
	}
	r := verify(t, db, &store.AuditCheck{ID: 3, Hash: es[2].Hash})
	if !r.OK || r.Checked != 5 || r.First != 1 || r.Last != 5 || r.Hash != es[4].Hash {
		t.Fatalf("verify = %+v", r)
	}
	mustRead(t, db, func(tx *store.Tx) error {
		id, h, err := tx.AuditHead()
		if id != 5 || h != es[4].Hash {
			t.Errorf("AuditHead = %d %s, want 5 %s", id, h, es[4].Hash)
		}
		got, err2 := tx.Events(store.EventFilter{})
		diff(t, "stored events", es, got)
		return cmpErr(err, err2)
	})
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// testTamper changes the database behind the store's back, as an attacker
// with write access would, and checks that verify names the first event
// affected and what is wrong.
func testTamper(t *testing.T, dialect string, newDB rawOpener) {
	ph := func(q string) string { // ? → $n for PostgreSQL
		if dialect != store.Postgres {
			return q
		}
		var b strings.Builder
		n := 0
		for _, c := range q {
			if c == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(c)
		}
		return b.String()
	}
	exec := func(t *testing.T, raw *sql.DB, q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(t.Context(), ph(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cols := `at, actor, actor_name, actor_source, action, target, result, reason, request_id, details, prev_hash, hash`
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, raw *sql.DB, es []d.Event)
		check  func(es []d.Event) *store.AuditCheck
		wantID d.EventID
		kind   string
	}{
		{"edit a field", func(t *testing.T, raw *sql.DB, es []d.Event) {
			exec(t, raw, `UPDATE events SET reason = ? WHERE id = 3`, "nothing to see")
		}, nil, 3, d.AuditAltered},
		{"edit the time", func(t *testing.T, raw *sql.DB, es []d.Event) {
			exec(t, raw, `UPDATE events SET at = at + 1 WHERE id = 4`)
		}, nil, 4, d.AuditAltered},
		{"delete one", func(t *testing.T, raw *sql.DB, es []d.Event) {
			exec(t, raw, `DELETE FROM events WHERE id = 3`)
		}, nil, 4, d.AuditDeleted},
		{"delete the first", func(t *testing.T, raw *sql.DB, es []d.Event) {
			exec(t, raw, `DELETE FROM events WHERE id = 1`)
		}, nil, 2, d.AuditDeleted},
		{"delete the last", func(t *testing.T, raw *sql.DB, es []d.Event) {
			exec(t, raw, `DELETE FROM events WHERE id = 6`)
		}, nil, 6, d.AuditTruncated},
		{"swap two", func(t *testing.T, raw *sql.DB, es []d.Event) {
			// Every column but the ID: the rows change places in the chain.
			var a, b [12]any
			for i := range a {
				a[i], b[i] = new(any), new(any)
			}
			if err := raw.QueryRowContext(t.Context(), `SELECT `+cols+` FROM events WHERE id = 3`).Scan(a[:]...); err != nil {
				t.Fatal(err)
			}
			if err := raw.QueryRowContext(t.Context(), `SELECT `+cols+` FROM events WHERE id = 4`).Scan(b[:]...); err != nil {
				t.Fatal(err)
			}
			set := `UPDATE events SET at = ?, actor = ?, actor_name = ?, actor_source = ?, action = ?, target = ?, result = ?, reason = ?, request_id = ?, details = ?, prev_hash = ?, hash = ? WHERE id = ?`
			deref := func(v [12]any, id int) []any {
				out := make([]any, 0, 13)
				for _, p := range v {
					out = append(out, *(p.(*any)))
				}
				return append(out, id)
			}
			exec(t, raw, set, deref(b, 3)...)
			exec(t, raw, set, deref(a, 4)...)
		}, nil, 3, d.AuditReordered},
		{"rewrite the chain from an event on", func(t *testing.T, raw *sql.DB, es []d.Event) {
			// The attacker recomputes every hash after the edit and moves
			// the head: the chain is consistent again, and only a head
			// exported before the rewrite shows it.
			exec(t, raw, `UPDATE events SET reason = ? WHERE id = 3`, "rewritten")
			prev, _ := hex.DecodeString(es[1].Hash)
			for i := 2; i < len(es); i++ {
				e := es[i]
				if i == 2 {
					e.Reason = "rewritten"
				}
				sum := audit.Sum(prev, &e)
				exec(t, raw, `UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?`, prev, sum, int64(e.ID))
				prev = sum
			}
			exec(t, raw, `UPDATE audit_head SET hash = ? WHERE one = 1`, prev)
		}, func(es []d.Event) *store.AuditCheck { return &store.AuditCheck{ID: 5, Hash: es[4].Hash} }, 5, d.AuditMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, dir, raw := newDB(t)
			db := open(t, dsn, dir)
			es := appendEvents(t, db, 6)
			if r := verify(t, db, nil); !r.OK {
				t.Fatalf("before tampering: %+v", r)
			}
			tc.tamper(t, raw(t), es)
			var check *store.AuditCheck
			if tc.check != nil {
				if r := verify(t, db, nil); !r.OK {
					t.Fatalf("a consistent rewrite should verify on its own, got %+v", r.Problem)
				}
				check = tc.check(es)
			}
			r := verify(t, db, check)
			if r.OK || r.Problem == nil {
				t.Fatalf("tampering not detected: %+v", r)
			}
			if r.Problem.ID != tc.wantID || r.Problem.Kind != tc.kind {
				t.Errorf("problem = %+v, want event %d kind %s", *r.Problem, tc.wantID, tc.kind)
			}
			t.Logf("detected: %s", r.Problem.Message)
		})
	}
}

func testConcurrentAppends(t *testing.T, db *store.DB) {
	const workers, each = 8, 15
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := &d.Event{Time: time.Now(), Actor: "system", ActorName: "system", Action: d.EvRequestExpired, Target: fmt.Sprintf("w%d-%d", w, i), Result: d.ResultSuccess}
				if err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.EventAppend(e) }); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	r := verify(t, db, nil)
	if !r.OK || r.Checked != workers*each || r.Last != workers*each {
		t.Fatalf("after concurrent appends: %+v", r)
	}
}

func testPrune(t *testing.T, db *store.DB, raw *sql.DB, dialect string) {
	es := appendEvents(t, db, 10)
	var a *d.AuditAnchor
	mustTx(t, db, func(tx *store.Tx) error {
		upTo, err := tx.PruneBoundary(t0.Add(4*time.Minute + time.Second)) // events 1..5 are older
		if err != nil {
			return err
		}
		if upTo != 5 {
			t.Errorf("PruneBoundary = %d, want 5", upTo)
		}
		a, err = tx.EventsPrune(upTo, "/archive/events-1-5.jsonl", t0.Add(time.Hour))
		return err
	})
	if a == nil || a.ID != 5 || a.Hash != es[4].Hash || a.Count != 5 {
		t.Fatalf("anchor = %+v", a)
	}
	r := verify(t, db, nil)
	if !r.OK || r.First != 6 || r.Checked != 5 || r.Anchor == nil || r.Anchor.ID != 5 {
		t.Fatalf("after pruning: %+v", r)
	}
	// A check against a head that was pruned is a note, not a failure.
	if r := verify(t, db, &store.AuditCheck{ID: 2, Hash: es[1].Hash}); !r.OK || len(r.Notes) == 0 {
		t.Errorf("check of a pruned head: %+v", r)
	}
	// Appending goes on from the head; deleting the new first event shows.
	appendEvents(t, db, 1)
	q := `DELETE FROM events WHERE id = 6`
	if _, err := raw.ExecContext(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	if r := verify(t, db, nil); r.OK || r.Problem.ID != 7 || r.Problem.Kind != d.AuditDeleted {
		t.Errorf("deleting after the anchor: %+v", r.Problem)
	}
	// Pruning everything leaves the anchor as the head.
	mustTx(t, db, func(tx *store.Tx) error {
		upTo, err := tx.PruneBoundary(t0.Add(24 * time.Hour))
		if err != nil {
			return err
		}
		_, err = tx.EventsPrune(upTo, "", t0.Add(25*time.Hour))
		return err
	})
	if r := verify(t, db, nil); !r.OK || r.Checked != 0 {
		t.Errorf("after pruning everything: %+v", r)
	}
}

// testUpgrade builds a database at schema version 1 with events written the
// old way (no hashes), then opens it with the store, which migrates and
// chains them: an upgraded database verifies from its first event.
func testUpgrade(t *testing.T, dsn, dir string, raw *sql.DB, dialect string) {
	gd := goose.DialectSQLite3
	if dialect == store.Postgres {
		gd = goose.DialectPostgres
	}
	if dialect == store.SQLite {
		// the raw handle names the file; create it as Open would
		if err := os.WriteFile(filepath.Join(dir, store.FileName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p, err := goose.NewProvider(gd, raw, os.DirFS("migrations/"+dialect))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	ins := `INSERT INTO events (at, actor, actor_name, action, target, result, reason) VALUES (?, 'system', 'system', 'request.expired', ?, 'success', 'old')`
	if dialect == store.Postgres {
		ins = `INSERT INTO events (at, actor, actor_name, action, target, result, reason) VALUES ($1, 'system', 'system', 'request.expired', $2, 'success', 'old')`
	}
	for i := range 3 {
		if _, err := raw.ExecContext(t.Context(), ins, t0.UnixMicro()+int64(i), fmt.Sprintf("tgt_old%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	db := open(t, dsn, dir)
	es := appendEvents(t, db, 2)
	if es[0].ID != 4 {
		t.Errorf("first new event has ID %d, want 4", es[0].ID)
	}
	r := verify(t, db, nil)
	if !r.OK || r.Checked != 5 || r.First != 1 {
		t.Fatalf("upgraded chain: %+v", r)
	}
	db.Close()
	db = open(t, dsn, dir) // chaining again is a no-op
	if r := verify(t, db, nil); !r.OK || r.Checked != 5 {
		t.Fatalf("reopened: %+v", r)
	}
}

func testEventsMachine(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "web-1", "db-1")
	r := request("token:tok_alice", t0, d.StatusActive, ms[:1], 22)
	mustTx(t, db, func(tx *store.Tx) error { return tx.RequestCreate(r) })
	evs := []*d.Event{
		{Time: t0, Actor: "token:tok_alice", ActorName: "alice", Action: d.EvRequestCreated, Target: string(r.ID), RequestID: r.ID, Result: d.ResultSuccess},
		{Time: t0, Actor: "agent:" + string(ms[0].ID), ActorName: "web-1", Action: d.EvRequestApplied, Target: string(r.Targets[0].ID), RequestID: r.ID, Result: d.ResultSuccess},
		{Time: t0, Actor: "token:tok_admin", ActorName: "admin", Action: d.EvPolicySet, Target: string(ms[1].ID), Result: d.ResultSuccess},
		{Time: t0, Actor: "token:tok_admin", ActorName: "admin", Action: d.EvPolicySet, Target: string(ms[0].ID), Result: d.ResultSuccess},
	}
	mustTx(t, db, func(tx *store.Tx) error {
		for _, e := range evs {
			if err := tx.EventAppend(e); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(f store.EventFilter) []d.EventID {
		var got []d.EventID
		mustRead(t, db, func(tx *store.Tx) error {
			return tx.EventsEach(f, func(e *d.Event) error { got = append(got, e.ID); return nil })
		})
		return got
	}
	diff(t, "machine web-1", []d.EventID{evs[0].ID, evs[1].ID, evs[3].ID}, ids(store.EventFilter{Machine: ms[0].ID}))
	diff(t, "machine db-1", []d.EventID{evs[2].ID}, ids(store.EventFilter{Machine: ms[1].ID}))
	diff(t, "deleted machine by name", []d.EventID{evs[0].ID, evs[1].ID}, ids(store.EventFilter{MachineName: "web-1"}))
	diff(t, "user by name", []d.EventID{evs[2].ID, evs[3].ID}, ids(store.EventFilter{User: "admin"}))
	diff(t, "user by subject", []d.EventID{evs[0].ID}, ids(store.EventFilter{User: "token:tok_alice"}))
	diff(t, "limit", []d.EventID{evs[0].ID, evs[1].ID}, ids(store.EventFilter{Limit: 2}))
}

func testMachinesAccess(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "web-1", "db-1", "idle-1")
	now := t0.Add(10 * 24 * time.Hour)
	old := request("token:tok_old", now.Add(-8*24*time.Hour), d.StatusExpired, ms[:1], 22)
	r1 := request("token:tok_alice", now.Add(-2*24*time.Hour), d.StatusExpired, ms[:2], 22)
	r2 := request("token:tok_bob", now.Add(-time.Hour), d.StatusActive, ms[:1], 22, 3389)
	denied := request("token:tok_eve", now.Add(-time.Hour), d.StatusDenied, ms[:2], 22)
	old.RequesterName, r1.RequesterName, r2.RequesterName, denied.RequesterName = "old", "alice", "bob", "eve"
	for i := range r1.Targets {
		r1.Targets[i].AppliedAt = now.Add(-2 * 24 * time.Hour)
	}
	for i := range r2.Targets {
		r2.Targets[i].AppliedAt = now.Add(-time.Hour + time.Second)
	}
	mustTx(t, db, func(tx *store.Tx) error {
		for _, r := range []*d.Request{old, r1, r2, denied} {
			if err := tx.RequestCreate(r); err != nil {
				return err
			}
		}
		return nil
	})
	var got map[d.MachineID]store.MachineAccess
	mustRead(t, db, func(tx *store.Tx) error {
		var err error
		got, err = tx.MachinesAccess(now.Add(-7 * 24 * time.Hour))
		return err
	})
	want := map[d.MachineID]store.MachineAccess{
		ms[0].ID: {Approved7d: 2, LastAccess: now.Add(-time.Hour + time.Second), LastUser: "bob"},
		ms[1].ID: {Approved7d: 1, LastAccess: now.Add(-2 * 24 * time.Hour), LastUser: "alice"},
	}
	diff(t, "MachinesAccess", want, got)
}
