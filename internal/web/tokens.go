package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

// TokenCreated is the response to creating an API or join token: the only
// time the secret is shown.
type TokenCreated struct {
	Token string `json:"token"`
	Info  any    `json:"info"`
	CAPin string `json:"ca_pin,omitempty"` // join tokens: what agents pass as --ca-pin
}

func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.TokenInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	full, t, err := s.svc.TokenCreate(r.Context(), a, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TokenCreated{Token: full, Info: t})
	return nil
}

func (s *Server) handleTokenList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	ts, err := s.svc.Tokens(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": listOf(ts)})
	return nil
}

func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	revokeGrants, err := boolParam(r.URL.Query().Get("revoke_grants"), "revoke_grants")
	if err != nil {
		return err
	}
	out, err := s.svc.TokenRevoke(r.Context(), a, d.TokenID(r.PathValue("id")), revokeGrants)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
