package web

import (
	"bufio"
	"net/http"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/audit"
	"github.com/drawbridge/drawbridge/internal/control"
)

// handleEventList reads the audit log. format=json (default) answers one
// page of at most limit events (default 100, at most 1000) with "next", the
// cursor for after= when more may follow. format=csv and format=jsonl
// stream every matching event (or limit, if given) as the database returns
// them, in constant memory; an error after the first byte aborts the
// response, so a client never takes a cut-short export for a whole one.
func (s *Server) handleEventList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	q := r.URL.Query()
	after, err := intParam(q.Get("after"), "after", 1<<62)
	if err != nil {
		return err
	}
	format := q.Get("format")
	maxLimit := control.MaxLimit
	if format == "csv" || format == "jsonl" {
		maxLimit = 1 << 62
	}
	limit, err := intParam(q.Get("limit"), "limit", maxLimit)
	if err != nil {
		return err
	}
	f := control.EventFilter{AfterID: d.EventID(after), Limit: limit, Action: q.Get("action"), Target: q.Get("target"),
		User: q.Get("user"), RequestID: d.RequestID(q.Get("request"))}
	if f.RequestID != "" && !d.ValidID(string(f.RequestID), d.RequestPrefix) {
		return d.FieldErrorf("request", "request must be a request ID (req_…), not %s", d.Excerpt(string(f.RequestID)))
	}
	now := time.Now()
	if f.Since, err = timeParam(q.Get("since"), "since", now); err != nil {
		return err
	}
	if f.Until, err = timeParam(q.Get("until"), "until", now); err != nil {
		return err
	}
	machine := q.Get("machine")
	switch format {
	case "", "json":
		es, err := s.svc.EventsPage(r.Context(), a, machine, f)
		if err != nil {
			return err
		}
		body := map[string]any{"events": listOf(es)}
		if n := len(es); n > 0 && n == effectiveLimit(limit) {
			body["next"] = es[n-1].ID
		}
		writeJSON(w, http.StatusOK, body)
		return nil
	case "csv":
		return s.streamEvents(w, r, a, machine, f, "text/csv; charset=utf-8", "drawbridge-events.csv", func(bw *bufio.Writer) audit.Writer { return audit.NewCSVWriter(bw) })
	case "jsonl":
		return s.streamEvents(w, r, a, machine, f, "application/jsonl", "drawbridge-events.jsonl", func(bw *bufio.Writer) audit.Writer { return audit.NewJSONLWriter(bw) })
	}
	return d.FieldErrorf("format", "format must be json, csv or jsonl")
}

func effectiveLimit(n int) int {
	if n == 0 {
		return control.DefaultLimit
	}
	return min(n, control.MaxLimit)
}

// streamEvents writes the events as they are read. Headers go out with the
// first event (or at the end for none), so an error found before that (a
// forbidden actor, an unknown filter) is still an ordinary error response.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, a d.Actor, machine string, f control.EventFilter, ctype, name string, newWriter func(*bufio.Writer) audit.Writer) error {
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 32<<10)
	ew := newWriter(bw)
	started := false
	start := func() {
		started = true
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
	}
	n := 0
	err := s.svc.EventsEach(r.Context(), a, machine, f, func(e *d.Event) error {
		if !started {
			start()
		}
		if n%4096 == 0 {
			// A long export keeps extending the server's write timeout.
			_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		}
		n++
		return ew.Write(e)
	})
	if err == nil {
		if !started {
			start()
		}
		if err = ew.Flush(); err == nil {
			err = bw.Flush()
		}
	}
	if err != nil && started {
		if r.Context().Err() == nil {
			s.log.Error("event export cut short", "request_id", requestID(r.Context()), "events", n, "err", err)
		}
		panic(http.ErrAbortHandler) // the client sees a broken stream, not a short file
	}
	return err
}

// handleAuditVerify walks the chain; ?id=N&hash=H also checks an exported
// head. A broken chain is a 200 with "ok": false and the problem.
func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	q := r.URL.Query()
	var check *control.AuditCheck
	if q.Get("id") != "" || q.Get("hash") != "" {
		id, err := intParam(q.Get("id"), "id", 1<<62)
		if err != nil || id == 0 {
			return d.FieldErrorf("id", "id must be the event ID of an exported head")
		}
		if _, err := audit.DecodeHash(q.Get("hash")); err != nil {
			return d.FieldErrorf("hash", "hash must be the 64-character hex hash of an exported head")
		}
		check = &control.AuditCheck{ID: d.EventID(id), Hash: q.Get("hash")}
	}
	rep, err := s.svc.AuditVerify(r.Context(), a, check)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// handleAuditHead answers the chain's head, signed with the CA key.
func (s *Server) handleAuditHead(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	h, err := s.svc.AuditHead(r.Context(), a)
	if err != nil {
		return err
	}
	h.CAPin = s.caPin
	writeJSON(w, http.StatusOK, h)
	return nil
}
