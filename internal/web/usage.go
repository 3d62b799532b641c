package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

// handleAgentUsage records the traffic counters an agent read from its
// kernel. The agent may name only its own machine's targets.
func (s *Server) handleAgentUsage(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.UsageInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.ReportUsage(r.Context(), a, in); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
