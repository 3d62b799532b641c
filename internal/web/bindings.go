package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

func (s *Server) handleBindingList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	bs, err := s.svc.Bindings(r.Context(), a)
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []d.Binding{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"bindings": listOf(bs)})
	return nil
}

func (s *Server) handleBindingCreate(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.BindingInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	b, err := s.svc.BindingCreate(r.Context(), a, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}

func (s *Server) handleBindingDelete(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	revokeGrants, err := boolParam(r.URL.Query().Get("revoke_grants"), "revoke_grants")
	if err != nil {
		return err
	}
	out, err := s.svc.BindingDelete(r.Context(), a, r.PathValue("id"), revokeGrants)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleRoleList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	rs, err := s.svc.Roles(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": listOf(rs)})
	return nil
}

func (s *Server) handleRoleCreate(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.RoleInput // not d.CustomRole: created_at and created_by are the server's to set
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	role, err := s.svc.RoleCreate(r.Context(), a, d.CustomRole{Name: in.Name, Actions: in.Actions})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, role)
	return nil
}

func (s *Server) handleRoleDelete(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	if err := s.svc.RoleDelete(r.Context(), a, d.Role(r.PathValue("name"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
