package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if s.ready != nil {
		if err := s.ready(r.Context()); err != nil {
			if e := d.AsError(err); e != nil && e.Kind == d.Unavailable && e.Message != "" {
				return e // such as: the database's disk is full
			}
			return &d.Error{Kind: d.Unavailable, Message: "database not reachable", Err: err}
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
