package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

func (s *Server) decision(w http.ResponseWriter, r *http.Request) (d.DecisionInput, error) {
	var in d.DecisionInput
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &in); err != nil {
			return in, err
		}
	}
	return in, nil
}

func (s *Server) handleRequestApprove(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	in, err := s.decision(w, r)
	if err != nil {
		return err
	}
	req, err := s.svc.Approve(r.Context(), a, d.RequestID(r.PathValue("id")), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

func (s *Server) handleRequestDeny(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	in, err := s.decision(w, r)
	if err != nil {
		return err
	}
	req, err := s.svc.Deny(r.Context(), a, d.RequestID(r.PathValue("id")), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

func (s *Server) handleApprovalList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	rs, err := s.svc.Approvals(r.Context(), a)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []d.Request{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": listOf(rs)})
	return nil
}
