package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

// Handlers for approvals, the request verbs beyond revoke, label-selector
// policies, role bindings and custom roles.

func (s *Server) handleRequestDone(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	req, err := s.svc.Done(r.Context(), a, d.RequestID(r.PathValue("id")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

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

func (s *Server) handleMachineLabels(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.LabelsInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	m, err := s.svc.MachineLabel(r.Context(), a, r.PathValue("machine"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

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

func (s *Server) handleMachineDelete(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	if err := s.svc.MachineDelete(r.Context(), a, r.PathValue("machine")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
