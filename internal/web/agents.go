package web

import (
	"net/http"
	"time"

	d "github.com/drawbridge/drawbridge"
)

func (s *Server) handleAgentEnroll(w http.ResponseWriter, r *http.Request) error {
	var in d.EnrollInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	e, err := s.svc.Enroll(r.Context(), s.clientAddr(r).String(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) handleAgentState(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	q := r.URL.Query()
	index, err := intParam(q.Get("index"), "index", 1<<62)
	if err != nil {
		return err
	}
	wait := 30 * time.Second
	if v := q.Get("wait"); v != "" {
		dw, err := d.ParseDuration(v)
		if err != nil || dw.Std() > s.maxWait {
			return d.FieldErrorf("wait", "wait must be a duration up to %s", d.Duration(s.maxWait))
		}
		wait = dw.Std()
	}
	s.metrics.agentConnected(1)
	defer s.metrics.agentConnected(-1)
	ds, err := s.svc.WatchState(r.Context(), a, int64(index), wait)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

func (s *Server) handleAgentAck(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.AckInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.Ack(r.Context(), a, in); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAgentInventory(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var inv d.Inventory
	if err := decodeJSON(w, r, &inv); err != nil {
		return err
	}
	if err := s.svc.ReportInventory(r.Context(), a, inv); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAgentRenew(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in struct {
		CSR string `json:"csr"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	e, err := s.svc.Renew(r.Context(), a, in.CSR)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) handleAgentOffline(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	if err := s.svc.AgentStopped(r.Context(), a); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
