package store_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// testChanged: a Tx records the machines whose version it bumped and the
// requests it wrote, each once; reads and other writes record nothing; and
// every attempt of DB.Tx (PostgreSQL retries contending transactions)
// starts from an empty record.
func testChanged(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "a", "b")
	r1 := request("token:x", t0, d.StatusActive, ms[:1], 22)
	r2 := request("token:x", t0, d.StatusPending, ms, 22)
	var got store.Changes
	mustTx(t, db, func(tx *store.Tx) error {
		if err := tx.RequestCreate(r1); err != nil {
			return err
		}
		if err := tx.RequestCreate(r2); err != nil {
			return err
		}
		got = tx.Changed()
		return nil
	})
	want := []d.RequestID{r1.ID, r2.ID}
	slices.Sort(want)
	diff(t, "after creating two requests", store.Changes{Requests: want}, got)

	mustTx(t, db, func(tx *store.Tx) error {
		if _, err := tx.Request(r1.ID); err != nil {
			return err
		}
		if err := tx.MachineTouch(ms[0].ID, t0); err != nil {
			return err
		}
		got = tx.Changed()
		return nil
	})
	if !got.Empty() {
		t.Errorf("reads and a touch changed %+v, want nothing", got)
	}

	mustTx(t, db, func(tx *store.Tx) error {
		for range 2 {
			if _, err := tx.MachineBumpVersion(ms[1].ID); err != nil {
				return err
			}
		}
		tg := r2.Targets[1]
		tg.Status = d.StatusApplying
		if err := tx.TargetUpdate(&tg); err != nil {
			return err
		}
		if err := tx.ApprovalAppend(r2.ID, d.Approval{Approver: "token:y", Decision: d.DecisionApprove, Time: t0}); err != nil {
			return err
		}
		got = tx.Changed()
		return nil
	})
	diff(t, "after bumping b twice and writing r2's target and approval", store.Changes{Machines: []d.MachineID{ms[1].ID}, Requests: []d.RequestID{r2.ID}}, got)

	// Contending writers: on PostgreSQL some attempts fail to serialise
	// and run again; each must begin with nothing recorded.
	var wg sync.WaitGroup
	var attempts atomic.Int64
	for range 4 {
		wg.Go(func() {
			for range 10 {
				err := db.Tx(t.Context(), func(tx *store.Tx) error {
					attempts.Add(1)
					if c := tx.Changed(); !c.Empty() {
						t.Errorf("an attempt began with %+v recorded", c)
					}
					tg := r1.Targets[0]
					if _, err := tx.Request(r1.ID); err != nil {
						return err
					}
					if _, err := tx.MachineBumpVersion(ms[0].ID); err != nil {
						return err
					}
					return tx.TargetUpdate(&tg)
				})
				if err != nil {
					t.Errorf("Tx: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d attempts for 40 transactions", attempts.Load())
}
