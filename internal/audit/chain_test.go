package audit_test

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// vector is one golden test vector: an event, the hash before it, and its
// canonical encoding and hash.
type vector struct {
	Name      string  `json:"name"`
	Event     d.Event `json:"event"`
	Prev      string  `json:"prev"`
	Canonical string  `json:"canonical"` // hex
	Hash      string  `json:"hash"`
}

func vectorEvents() []vector {
	t := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	base := d.Event{ID: 1, Time: t, Actor: "token:tok_alice", ActorName: "alice", ActorSource: "192.0.2.1",
		Action: d.EvRequestCreated, Target: "req_0123456789ab", Result: d.ResultSuccess, Reason: "deploy", RequestID: "req_0123456789ab", Details: `{"ports":[22]}`}
	unicode := base
	unicode.ID, unicode.Reason = 2, "Wartung «Störung» 🚑, \"quoted\"\nnew line"
	empty := d.Event{ID: 3}
	// Moving bytes between adjacent fields must change the encoding.
	shiftA, shiftB := base, base
	shiftA.ID, shiftA.Actor, shiftA.ActorName = 4, "ab", "c"
	shiftB.ID, shiftB.Actor, shiftB.ActorName = 4, "a", "bc"
	return []vector{
		{Name: "genesis", Event: base, Prev: hex.EncodeToString(audit.Genesis)},
		{Name: "unicode and separators", Event: unicode, Prev: strings.Repeat("ab", 32)},
		{Name: "zero fields", Event: empty, Prev: strings.Repeat("00", 32)},
		{Name: "field boundary a", Event: shiftA, Prev: strings.Repeat("00", 32)},
		{Name: "field boundary b", Event: shiftB, Prev: strings.Repeat("00", 32)},
	}
}

func TestGoldenVectors(t *testing.T) {
	vs := vectorEvents()
	for i := range vs {
		v := &vs[i]
		prev, err := audit.DecodeHash(v.Prev)
		if err != nil {
			t.Fatal(err)
		}
		v.Canonical = hex.EncodeToString(audit.Canonical(&v.Event))
		v.Hash = hex.EncodeToString(audit.Sum(prev, &v.Event))
	}
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, _ := json.MarshalIndent(vs, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []vector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, vs); diff != "" {
		t.Errorf("the canonical encoding changed (-golden +now); a change needs a new version tag:\n%s", diff)
	}
	if vs[3].Hash == vs[4].Hash {
		t.Error("moving a byte from one field to the next did not change the hash")
	}
}

func TestSealAndVerifyChain(t *testing.T) {
	es := chain(5)
	v := audit.NewVerifier(nil)
	for i := range es {
		if !v.Add(&es[i]) {
			t.Fatalf("stopped at %d", es[i].ID)
		}
	}
	if r := v.Finish(5, es[4].Hash); !r.OK || r.Checked != 5 {
		t.Fatalf("%+v", r)
	}
}

func chain(n int) []d.Event {
	var es []d.Event
	prev := audit.Genesis
	for i := range n {
		e := d.Event{ID: d.EventID(i + 1), Time: time.Unix(1700000000+int64(i), 0).UTC(), Actor: "system", Action: "x", Result: "success", Reason: "<b>&\u2028</b>"}
		prev = audit.Seal(prev, &e)
		es = append(es, e)
	}
	return es
}

func TestHeadSignature(t *testing.T) {
	h := d.AuditHead{ID: 5, Hash: strings.Repeat("ab", 32), Time: time.Unix(1700000000, 0)}
	var signed []byte
	if err := audit.SignHead(&h, func(dg []byte) ([]byte, error) { signed = dg; return []byte("sig"), nil }); err != nil {
		t.Fatal(err)
	}
	ok := func(dg, sig []byte) error {
		if !bytes.Equal(dg, signed) || string(sig) != "sig" {
			return os.ErrInvalid
		}
		return nil
	}
	if err := audit.VerifyHead(h, ok); err != nil {
		t.Fatal(err)
	}
	h2 := h
	h2.ID = 6
	if err := audit.VerifyHead(h2, ok); err == nil {
		t.Error("a head with another ID verified")
	}
}

// TestCSVRoundTrip writes awkward values and reads them back with Go's
// encoding/csv: quotes, commas, line breaks and non-ASCII text survive;
// formula-like cells come back with a leading apostrophe.
func TestCSVRoundTrip(t *testing.T) {
	reasons := []string{
		`plain`,
		`comma, "quotes" and 'single'`,
		"two\nlines\nand\ttab",
		"Wartung «Störung» — 日本語 🚑",
		"=HYPERLINK(\"http://evil\",\"click\")",
		"+1+1", "-2", "@SUM(A1)", "\tx", "\rx",
		"",
	}
	var buf bytes.Buffer
	w := audit.NewCSVWriter(&buf)
	for i, r := range reasons {
		e := d.Event{ID: d.EventID(i + 1), Time: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), Actor: "token:tok_a", Action: "request.created", Reason: r, Details: `{"a":"b,c"}`}
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte(audit.BOM)) {
		t.Error("no UTF-8 BOM")
	}
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(reasons)+1 {
		t.Fatalf("%d records, want %d", len(recs), len(reasons)+1)
	}
	hdr := recs[0]
	hdr[0] = strings.TrimPrefix(hdr[0], audit.BOM)
	if diff := cmp.Diff(audit.CSVHeader, hdr); diff != "" {
		t.Error(diff)
	}
	for i, r := range reasons {
		got := recs[i+1][8]
		want := r
		if r != "" && strings.ContainsRune("=+-@\t\r'", rune(r[0])) {
			want = "'" + r
		}
		if got != want {
			t.Errorf("reason %q read back as %q, want %q", r, got, want)
		}
		if recs[i+1][1] != "2025-01-02T03:04:05.000006Z" || recs[i+1][10] != `{"a":"b,c"}` {
			t.Errorf("record %d: %q", i, recs[i+1])
		}
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	es := chain(3) // reasons hold <, > and & and U+2028, which JSON may escape
	var buf bytes.Buffer
	w := audit.NewJSONLWriter(&buf)
	for i := range es {
		if err := w.Write(&es[i]); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	v := audit.NewVerifier(nil)
	var got []d.Event
	err := audit.ReadJSONL(&buf, func(e *d.Event) error { got = append(got, *e); v.Add(e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(es, got); diff != "" {
		t.Error(diff)
	}
	if r := v.Finish(0, ""); !r.OK {
		t.Errorf("%+v", r)
	}
}

// TestCSVReadsBackAndVerifies: a CSV export reads back exactly (formula
// guards and all), so the chain verifies from it offline.
func TestCSVReadsBackAndVerifies(t *testing.T) {
	reasons := []string{"", "plain", "=1+1", "'=1+1", "''", "'", "-", "@x", "+", `a "quoted", comma`, "Übergabe 🚑", "<b>&\u2028</b>"}
	var es []d.Event
	prev := audit.Genesis
	for i, r := range reasons {
		e := d.Event{ID: d.EventID(i + 1), Time: time.UnixMicro(1700000000_123456 + int64(i)).UTC(), Actor: "token:tok_a", ActorName: "'bob", Action: "request.revoked",
			Target: "=x", Result: "success", Reason: r, RequestID: "req_x", Details: `{"a":"b,c","q":"'"}`}
		prev = audit.Seal(prev, &e)
		es = append(es, e)
	}
	var buf bytes.Buffer
	w := audit.NewCSVWriter(&buf)
	for i := range es {
		if err := w.Write(&es[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	v := audit.NewVerifier(nil)
	var got []d.Event
	if err := audit.ReadCSV(&buf, func(e *d.Event) error { got = append(got, *e); v.Add(e); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(es, got); diff != "" {
		t.Errorf("read back (-wrote +read):\n%s", diff)
	}
	if r := v.Finish(0, ""); !r.OK {
		t.Errorf("CSV export does not verify: %+v", r.Problem)
	}
}
