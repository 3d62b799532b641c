package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

func (s *Server) handleSelectorPolicyList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	ps, err := s.svc.SelectorPolicies(r.Context(), a)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []d.Policy{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": listOf(ps)})
	return nil
}

func (s *Server) handleSelectorPolicyPut(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.PolicyInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	p, err := s.svc.SelectorPolicySet(r.Context(), a, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) handleSelectorPolicyDelete(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	if err := s.svc.SelectorPolicyDelete(r.Context(), a, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handlePolicyGet(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	_, p, err := s.svc.Policy(r.Context(), a, r.PathValue("machine"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) handlePolicyPut(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.PolicyInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Rules == nil {
		return d.FieldErrorf("rules", "rules are required (use the enable route for Azure's defaults)")
	}
	p, err := s.svc.PolicySet(r.Context(), a, r.PathValue("machine"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) handlePolicyEnable(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	on := true
	p, err := s.svc.PolicySet(r.Context(), a, r.PathValue("machine"), d.PolicyInput{Enabled: &on})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) handlePolicyDisable(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	off := false
	p, err := s.svc.PolicySet(r.Context(), a, r.PathValue("machine"), d.PolicyInput{Enabled: &off})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) handlePolicyDelete(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	out, err := s.svc.PolicyDelete(r.Context(), a, r.PathValue("machine"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handlePolicyList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	ps, err := s.svc.Policies(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": listOf(ps)})
	return nil
}
