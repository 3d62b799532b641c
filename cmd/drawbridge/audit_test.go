package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
)

// TestVerifyFileReadsCSV: 'audit verify --file' checks a CSV export as it
// checks a JSON Lines one, and finds an edit in either.
func TestVerifyFileReadsCSV(t *testing.T) {
	prev := audit.Genesis
	var es []d.Event
	for i, reason := range []string{"=1+1", "'quoted'", "a, \"b\"", "Übergabe 🚑"} {
		e := d.Event{ID: d.EventID(i + 1), Time: time.UnixMicro(1700000000_000001 + int64(i)).UTC(), Actor: "token:tok_a", ActorName: "alice",
			Action: d.EvRequestCreated, Target: "req_x", Result: d.ResultSuccess, Reason: reason, Details: `{"k":"v"}`}
		prev = audit.Seal(prev, &e)
		es = append(es, e)
	}
	export := func(w audit.Writer, buf *bytes.Buffer) []byte {
		for i := range es {
			if err := w.Write(&es[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	var cb, jb bytes.Buffer
	files := map[string][]byte{
		"export.csv":   export(audit.NewCSVWriter(&cb), &cb),
		"export.jsonl": export(audit.NewJSONLWriter(&jb), &jb),
	}
	dir := t.TempDir()
	for name, b := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := verifyFile(path, nil)
		if err != nil || !r.OK || r.Checked != int64(len(es)) {
			t.Errorf("%s: %+v, %v; want all %d events verified", name, r, err, len(es))
		}
		edited := bytes.Replace(b, []byte("alice"), []byte("alicf"), 1)
		if err := os.WriteFile(path, edited, 0o600); err != nil {
			t.Fatal(err)
		}
		if r, err := verifyFile(path, nil); err != nil || r.OK {
			t.Errorf("%s edited: %+v, %v; want a problem", name, r, err)
		}
	}
}
