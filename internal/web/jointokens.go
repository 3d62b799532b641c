package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

func (s *Server) handleJoinTokenCreate(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.JoinTokenInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	full, j, err := s.svc.JoinTokenCreate(r.Context(), a, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TokenCreated{Token: full, Info: j, CAPin: s.caPin})
	return nil
}

func (s *Server) handleJoinTokenList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	js, err := s.svc.JoinTokens(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"join_tokens": js})
	return nil
}

func (s *Server) handleJoinTokenRevoke(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	if err := s.svc.JoinTokenRevoke(r.Context(), a, d.JoinTokenID(r.PathValue("id"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
