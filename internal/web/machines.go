package web

import (
	"net/http"
	"slices"
	"strings"

	d "github.com/drawbridge/drawbridge"
)

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

func (s *Server) handleMachineDelete(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	if err := s.svc.MachineDelete(r.Context(), a, r.PathValue("machine")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleMachineList lists machines; ?status=configured,unsupported (or the
// parameter repeated) keeps only machines with one of those statuses.
func (s *Server) handleMachineList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var want []d.MachineStatus
	for _, v := range r.URL.Query()["status"] {
		for part := range strings.SplitSeq(v, ",") {
			st := d.MachineStatus(part)
			if !st.Valid() {
				return d.FieldErrorf("status", "status must be one or more of configured, not_configured, unsupported (comma-separated)")
			}
			want = append(want, st)
		}
	}
	ms, err := s.svc.Machines(r.Context(), a)
	if err != nil {
		return err
	}
	if want != nil {
		ms = slices.DeleteFunc(ms, func(m d.MachineView) bool { return !slices.Contains(want, m.Status) })
	}
	writeJSON(w, http.StatusOK, map[string]any{"machines": listOf(ms)})
	return nil
}

func (s *Server) handleMachineGet(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	m, err := s.svc.Machine(r.Context(), a, r.PathValue("machine"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}
