package store_test

import (
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/pgtest"
	"github.com/drawbridge/drawbridge/internal/store"
)

func TestUsageSQLite(t *testing.T) {
	testUsage(t, open(t, "", t.TempDir()))
}

func TestUsagePostgres(t *testing.T) {
	testUsage(t, open(t, pgtest.DSN(t), ""))
}

// testUsage: usage rows are created, replaced and read with their
// requests; a usage row needs its target.
func testUsage(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "web-1", "web-2")
	r := request("token:tok_a", t0, d.StatusActive, ms, 22, 443)
	mustTx(t, db, func(tx *store.Tx) error { return tx.RequestCreate(r) })
	t1, t2 := r.Targets[0].ID, r.Targets[1].ID

	u := &d.Usage{Packets: 1 << 40, Bytes: 1<<63 + 5, FirstUsedAt: t0, LastUsedAt: t0.Add(time.Minute),
		ReportedAt: t0.Add(2 * time.Minute), Epoch: "abc", EpochPackets: 7, EpochBytes: 9}
	mustTx(t, db, func(tx *store.Tx) error { return tx.TargetUsagePut(t1, u) })
	want := *u
	want.Bytes = 1<<63 - 1 // clamped to the column's range
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.TargetUsage([]d.TargetID{t1, t2})
		if err != nil {
			return err
		}
		if len(got) != 1 {
			t.Errorf("usage of %d targets, want 1: %v", len(got), got)
		}
		diff(t, "usage", &want, got[t1])
		return nil
	})

	u2 := &d.Usage{Packets: 3, Bytes: 300, ReportedAt: t0, Epoch: "def", EpochPackets: 3, EpochBytes: 300}
	mustTx(t, db, func(tx *store.Tx) error { return tx.TargetUsagePut(t1, u2) })
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Request(r.ID)
		if err != nil {
			return err
		}
		for _, tg := range got.Targets {
			switch tg.ID {
			case t1:
				diff(t, "replaced usage via Request", u2, tg.Usage)
			default:
				if tg.Usage != nil {
					t.Errorf("target %s without a report has usage %+v", tg.ID, tg.Usage)
				}
			}
		}
		rs, err := tx.Requests(store.RequestFilter{})
		if err != nil {
			return err
		}
		found := false
		for _, tg := range rs[0].Targets {
			if tg.ID == t1 {
				found = true
				diff(t, "usage via Requests", u2, tg.Usage)
			}
		}
		if !found {
			t.Errorf("target %s missing from Requests", t1)
		}
		owners, err := tx.TargetMachines([]d.TargetID{t1, t2, "tgt_unknown"})
		if err != nil {
			return err
		}
		diff(t, "target machines", map[d.TargetID]d.MachineID{t1: r.Targets[0].MachineID, t2: r.Targets[1].MachineID}, owners)
		return nil
	})

	err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.TargetUsagePut("tgt_unknown", u2) })
	wantKind(t, "usage of an unknown target", err, d.NotFound)
}
