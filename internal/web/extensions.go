package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

func (s *Server) handleRequestExtend(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.ExtendInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	req, err := s.svc.Extend(r.Context(), a, d.RequestID(r.PathValue("id")), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}
