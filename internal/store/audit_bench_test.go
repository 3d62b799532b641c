package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
)

// BenchmarkExport exports a chained log of 1,000,000 events (or
// DRAWBRIDGE_BENCH_EVENTS) from SQLite as CSV and JSON Lines, and verifies
// the whole chain, reporting events/s and the peak heap in use while it
// runs. Seeding writes the rows in one transaction with multi-row inserts,
// chaining them in Go exactly as EventAppend does, so the export reads a
// realistic chain. Run it with:
//
//	go test -run '^$' -bench Export -benchtime 1x ./internal/store/
func BenchmarkExport(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("DRAWBRIDGE_BENCH_EVENTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	db, err := Open(ctx, "", b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	if err := seedEvents(ctx, db, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d chained events in %v", n, time.Since(start).Round(time.Millisecond))

	run := func(b *testing.B, each func(tx *Tx, w io.Writer) error) {
		for b.Loop() {
			cw := &countWriter{}
			peak := watchHeap()
			err := db.Read(ctx, func(tx *Tx) error { return each(tx, cw) })
			max := peak()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(max)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(cw.n)/(1<<20), "output-MB")
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	export := func(newW func(io.Writer) audit.Writer) func(tx *Tx, w io.Writer) error {
		return func(tx *Tx, w io.Writer) error {
			ew := newW(w)
			count := 0
			if err := tx.EventsEach(EventFilter{}, func(e *d.Event) error { count++; return ew.Write(e) }); err != nil {
				return err
			}
			if count != n {
				return fmt.Errorf("exported %d events, want %d", count, n)
			}
			return ew.Flush()
		}
	}
	b.Run("CSV", func(b *testing.B) { run(b, export(func(w io.Writer) audit.Writer { return audit.NewCSVWriter(w) })) })
	b.Run("JSONL", func(b *testing.B) { run(b, export(func(w io.Writer) audit.Writer { return audit.NewJSONLWriter(w) })) })
	b.Run("Verify", func(b *testing.B) {
		run(b, func(tx *Tx, _ io.Writer) error {
			r, err := tx.VerifyChain(nil)
			if err == nil && (!r.OK || r.Checked != int64(n)) {
				err = fmt.Errorf("verify: %+v", r)
			}
			return err
		})
	})
}

// seedEvents appends n chained events in one transaction, 500 rows per
// INSERT, and moves the head.
func seedEvents(ctx context.Context, db *DB, n int) error {
	const per = 500
	actions := []string{d.EvRequestCreated, d.EvRequestApplied, d.EvRequestExpired, d.EvPolicySet, d.EvTokenCreated}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return db.Tx(ctx, func(tx *Tx) error {
		id, prev, err := tx.lockHead()
		if err != nil {
			return err
		}
		args := make([]any, 0, per*13)
		rows := 0
		flush := func() error {
			if rows == 0 {
				return nil
			}
			q := `INSERT INTO events (` + eventCols + `) VALUES ` + repeatRows(rows)
			_, err := tx.exec(q, args...)
			args, rows = args[:0], 0
			return err
		}
		for i := range n {
			id++
			e := d.Event{ID: id, Time: t0.Add(time.Duration(i) * time.Second), Actor: "token:tok_user" + strconv.Itoa(i%50), ActorName: "user" + strconv.Itoa(i%50),
				ActorSource: "198.51.100." + strconv.Itoa(i%250), Action: actions[i%len(actions)], Target: fmt.Sprintf("req_%012d", i/3),
				Result: d.ResultSuccess, Reason: "deploy release " + strconv.Itoa(i) + ", ticket OPS-" + strconv.Itoa(i%9999) + " «prod»",
				RequestID: d.RequestID(fmt.Sprintf("req_%012d", i/3)), Details: `{"targets":[{"machine":"web-` + strconv.Itoa(i%40) + `","port":22,"protocol":"tcp"}],"duration":"1h"}`}
			sum := audit.Sum(prev, &e)
			args = append(args, int64(e.ID), micros(e.Time), e.Actor, e.ActorName, e.ActorSource, e.Action, e.Target, e.Result, e.Reason, string(e.RequestID), e.Details, prev, sum)
			prev = sum
			if rows++; rows == per {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		return tx.setHead(id, prev)
	})
}

func repeatRows(n int) string {
	row := "(" + placeholders(13) + ")"
	b := make([]byte, 0, n*(len(row)+2))
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, row...)
	}
	return string(b)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// watchHeap samples HeapInuse every 2ms until the returned function is
// called, which returns the largest sample.
func watchHeap() func() uint64 {
	runtime.GC()
	var mu sync.Mutex
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		peak = max(peak, m.HeapInuse)
		mu.Unlock()
	}
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(stop)
		wg.Wait()
		sample()
		return peak
	}
}
