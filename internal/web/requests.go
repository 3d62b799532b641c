package web

import (
	"fmt"
	"net/http"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/control"
)

func (s *Server) handleRequestDone(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	req, err := s.svc.Done(r.Context(), a, d.RequestID(r.PathValue("id")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

// handleRequestCreate creates a request; with ?wait=DURATION it answers once
// the agents have confirmed the rules are in the kernel (or the wait fails).
func (s *Server) handleRequestCreate(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	wait, err := s.waitParam(r)
	if err != nil {
		return err
	}
	var in d.RequestInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if dry, err := boolParam(r.URL.Query().Get("dry_run"), "dry_run"); err != nil {
		return err
	} else if dry {
		res, err := s.svc.DryRun(r.Context(), a, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	req, err := s.svc.RequestCreate(r.Context(), a, in)
	if err != nil {
		return err
	}
	if wait > 0 {
		req, err = s.svc.WaitApplied(r.Context(), a, req.ID, wait)
		if err != nil {
			return withRequest(err, req)
		}
	}
	writeJSON(w, http.StatusCreated, req)
	return nil
}

// withRequest keeps the request ID in a wait failure's message: the request
// exists even though the wait failed.
func withRequest(err error, req *d.Request) error {
	if e := d.AsError(err); e != nil && req != nil {
		c := *e
		c.Message = fmt.Sprintf("request %s created, but %s", req.ID, e.Message)
		return &c
	}
	return err
}

func (s *Server) waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	w, err := d.ParseDuration(v)
	if err != nil || w.Std() > s.maxWait {
		return 0, d.FieldErrorf("wait", "wait must be a duration up to %s", d.Duration(s.maxWait))
	}
	return w.Std(), nil
}

func (s *Server) handleRequestList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	q := r.URL.Query()
	f := control.RequestsFilter{Machine: q.Get("machine")}
	var err error
	if f.Mine, err = boolParam(q.Get("mine"), "mine"); err != nil {
		return err
	}
	if f.Open, err = boolParam(q.Get("open"), "open"); err != nil {
		return err
	}
	if f.Awaiting, err = boolParam(q.Get("awaiting"), "awaiting"); err != nil {
		return err
	}
	if f.Limit, err = intParam(q.Get("limit"), "limit", 1000); err != nil {
		return err
	}
	rs, err := s.svc.Requests(r.Context(), a, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": listOf(rs)})
	return nil
}

func (s *Server) handleRequestGet(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	wait, err := s.waitParam(r)
	if err != nil {
		return err
	}
	id := d.RequestID(r.PathValue("id"))
	var req *d.Request
	if wait > 0 {
		req, err = s.svc.WaitApplied(r.Context(), a, id, wait)
	} else {
		req, err = s.svc.Request(r.Context(), a, id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

func (s *Server) handleRequestRevoke(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.RevokeInput
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
	}
	req, err := s.svc.Revoke(r.Context(), a, d.RequestID(r.PathValue("id")), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}
