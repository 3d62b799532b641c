package web

import (
	"net/http"
	"slices"

	d "github.com/drawbridge/drawbridge"
)

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	writeJSON(w, http.StatusOK, map[string]any{"actor": a, "actions": listOf(grantedActions(a))})
	return nil
}

// grantedActions is every action the actor holds at some scope, in the
// order of drawbridge.AllActions.
func grantedActions(a d.Actor) []d.Action {
	out := []d.Action{}
	for _, act := range d.AllActions() {
		if a.AllowedSomewhere(act) {
			out = append(out, act)
		}
	}
	return slices.Clip(out)
}
