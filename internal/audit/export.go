package audit

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Writer writes events one at a time in an export format. Nothing is held
// back beyond a fixed-size buffer, so an export of any length runs in
// constant memory. Writers are not safe for concurrent use.
type Writer interface {
	Write(e *d.Event) error
	Flush() error // write out buffered bytes
}

// CSVHeader is the first record of a CSV export.
var CSVHeader = []string{"id", "time", "actor", "actor_name", "actor_source", "action", "target", "result", "reason", "request_id", "details", "prev_hash", "hash"}

// BOM is the UTF-8 byte order mark a CSV export starts with: without it,
// Excel reads the file in the local code page and mangles non-ASCII text.
// Go's encoding/csv keeps it as part of the first header cell ("\ufeffid").
const BOM = "\ufeff"

// CSVWriter writes RFC 4180 CSV (comma-separated, fields quoted when they
// hold a comma, quote or line break, quotes doubled, LF line ends) with a
// BOM and a header row. Times are RFC 3339 UTC with microseconds.
//
// Formula injection: a spreadsheet runs a cell that starts with = + - @ as
// a formula (and some also after a leading TAB or CR). Any cell that starts
// with one of those six characters is written with a leading apostrophe
// ('=cmd|…), which spreadsheets show as text. A cell that starts with an
// apostrophe gets one more, so that the apostrophe is always removable:
// ReadCSV reads the events back exactly, and the chain verifies from a CSV
// export as from a JSON Lines one. (Events hold no CR: free text is
// cleaned before it reaches the chain, so encoding/csv's CRLF folding
// never changes a field.)
type CSVWriter struct {
	w      *csv.Writer
	header bool
	rec    []string
}

// NewCSVWriter returns a CSVWriter on w.
func NewCSVWriter(w io.Writer) *CSVWriter {
	return &CSVWriter{w: csv.NewWriter(w), rec: make([]string, len(CSVHeader))}
}

func (c *CSVWriter) writeHeader() error {
	if c.header {
		return nil
	}
	c.header = true
	h := append([]string{}, CSVHeader...)
	h[0] = BOM + h[0]
	return c.w.Write(h)
}

// Write writes one event as a CSV record (the header first).
func (c *CSVWriter) Write(e *d.Event) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	r := c.rec
	r[0] = strconv.FormatInt(int64(e.ID), 10)
	r[1] = FormatTime(e.Time)
	r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12] =
		e.Actor, e.ActorName, e.ActorSource, e.Action, e.Target, e.Result, e.Reason, string(e.RequestID), e.Details, e.PrevHash, e.Hash
	for i := range r {
		r[i] = SafeCell(r[i])
	}
	return c.w.Write(r)
}

// Flush writes out buffered records; it writes the header of an empty export.
func (c *CSVWriter) Flush() error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

// SafeCell returns s with a leading apostrophe when a spreadsheet would
// otherwise treat it as a formula, or when s itself starts with an
// apostrophe (see CSVWriter). UnsafeCell undoes it.
func SafeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
		return "'" + s
	}
	return s
}

// UnsafeCell returns the field SafeCell wrote as cell.
func UnsafeCell(cell string) string { return strings.TrimPrefix(cell, "'") }

// ReadCSV calls fn for each event of a CSV export (as CSVWriter writes
// it), in file order, in constant memory. A malformed record is an error
// naming its line.
func ReadCSV(r io.Reader, fn func(*d.Event) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(CSVHeader)
	cr.ReuseRecord = true
	hdr, err := cr.Read()
	if err != nil {
		return fmt.Errorf("csv header: %w", err)
	}
	hdr[0] = strings.TrimPrefix(hdr[0], BOM)
	if !slices.Equal(hdr, CSVHeader) {
		return fmt.Errorf("csv header is %q, want %q", hdr, CSVHeader)
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = UnsafeCell(rec[i])
		}
		id, err := strconv.ParseInt(rec[0], 10, 64)
		if err != nil {
			return &lineError{line: line, err: fmt.Errorf("id %q: %w", rec[0], err)}
		}
		e := d.Event{ID: d.EventID(id), Actor: rec[2], ActorName: rec[3], ActorSource: rec[4], Action: rec[5], Target: rec[6],
			Result: rec[7], Reason: rec[8], RequestID: d.RequestID(rec[9]), Details: rec[10], PrevHash: rec[11], Hash: rec[12]}
		if rec[1] != "" {
			if e.Time, err = time.Parse(time.RFC3339Nano, rec[1]); err != nil {
				return &lineError{line: line, err: fmt.Errorf("time %q: %w", rec[1], err)}
			}
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
}

// FormatTime is how exports write times: RFC 3339, UTC, microseconds.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// JSONLWriter writes one JSON object per line (JSON Lines), each the event
// exactly as the API returns it, hashes included: the format verify --file
// reads.
type JSONLWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewJSONLWriter returns a JSONLWriter on w.
func NewJSONLWriter(w io.Writer) *JSONLWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &JSONLWriter{bw: bw, enc: enc}
}

// Write writes one event and a newline.
func (j *JSONLWriter) Write(e *d.Event) error { return j.enc.Encode(e) }

// Flush writes out buffered lines.
func (j *JSONLWriter) Flush() error { return j.bw.Flush() }

// ReadJSONL calls fn for each event of a JSON Lines export, in file order,
// in constant memory. Blank lines are skipped; a malformed line is an error
// naming its line number.
func ReadJSONL(r io.Reader, fn func(*d.Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var e d.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return &lineError{line: line, err: err}
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return sc.Err()
}

type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return "line " + strconv.Itoa(e.line) + ": " + e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }
