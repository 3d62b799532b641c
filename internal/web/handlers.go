package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/control"
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

// handleNotFound answers what no route matches under /api/. This catch-all
// matches every method, so the mux never answers 405 itself for an API
// path: if the path has routes with other methods, it is a 405 listing them
// in Allow, as the mux would; otherwise a JSON 404.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/api/" { // this catch-all's own pattern
			allow = append(allow, m)
		}
	}
	path := d.Excerpt(r.URL.Path)
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return &d.Error{Kind: d.NotAllowed, Message: fmt.Sprintf("%s is not allowed on %s (allowed: %s)", d.Excerpt(r.Method), path, strings.Join(allow, ", "))}
	}
	return &d.Error{Kind: d.NotFound, Message: fmt.Sprintf("no route %s %s", d.Excerpt(r.Method), path)}
}

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	writeJSON(w, http.StatusOK, map[string]any{"actor": a, "actions": listOf(grantedActions(a))})
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

// handleRequestCreate creates a request; with ?wait=DURATION it answers once
// the agents have confirmed the rules are in the kernel (or the wait fails).
func (s *Server) handleRequestCreate(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	wait, err := s.waitParam(r)
	if err != nil {
		return err
	}
	var in d.RequestInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if dry, err := boolParam(r.URL.Query().Get("dry_run"), "dry_run"); err != nil {
		return err
	} else if dry {
		res, err := s.svc.DryRun(r.Context(), a, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	req, err := s.svc.RequestCreate(r.Context(), a, in)
	if err != nil {
		return err
	}
	if wait > 0 {
		req, err = s.svc.WaitApplied(r.Context(), a, req.ID, wait)
		if err != nil {
			return withRequest(err, req)
		}
	}
	writeJSON(w, http.StatusCreated, req)
	return nil
}

// withRequest keeps the request ID in a wait failure's message: the request
// exists even though the wait failed.
func withRequest(err error, req *d.Request) error {
	if e := d.AsError(err); e != nil && req != nil {
		c := *e
		c.Message = fmt.Sprintf("request %s created, but %s", req.ID, e.Message)
		return &c
	}
	return err
}

func (s *Server) waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	w, err := d.ParseDuration(v)
	if err != nil || w.Std() > s.maxWait {
		return 0, d.FieldErrorf("wait", "wait must be a duration up to %s", d.Duration(s.maxWait))
	}
	return w.Std(), nil
}

func (s *Server) handleRequestList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	q := r.URL.Query()
	f := control.RequestsFilter{Machine: q.Get("machine")}
	var err error
	if f.Mine, err = boolParam(q.Get("mine"), "mine"); err != nil {
		return err
	}
	if f.Open, err = boolParam(q.Get("open"), "open"); err != nil {
		return err
	}
	if f.Awaiting, err = boolParam(q.Get("awaiting"), "awaiting"); err != nil {
		return err
	}
	if f.Limit, err = intParam(q.Get("limit"), "limit", 1000); err != nil {
		return err
	}
	rs, err := s.svc.Requests(r.Context(), a, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": listOf(rs)})
	return nil
}

func (s *Server) handleRequestGet(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	wait, err := s.waitParam(r)
	if err != nil {
		return err
	}
	id := d.RequestID(r.PathValue("id"))
	var req *d.Request
	if wait > 0 {
		req, err = s.svc.WaitApplied(r.Context(), a, id, wait)
	} else {
		req, err = s.svc.Request(r.Context(), a, id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

func (s *Server) handleRequestRevoke(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.RevokeInput
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &in); err != nil {
			return err
		}
	}
	req, err := s.svc.Revoke(r.Context(), a, d.RequestID(r.PathValue("id")), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, req)
	return nil
}

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

func (s *Server) handleAgentEnroll(w http.ResponseWriter, r *http.Request) error {
	var in d.EnrollInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	e, err := s.svc.Enroll(r.Context(), s.clientAddr(r).String(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) handleAgentState(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	q := r.URL.Query()
	index, err := intParam(q.Get("index"), "index", 1<<62)
	if err != nil {
		return err
	}
	wait := 30 * time.Second
	if v := q.Get("wait"); v != "" {
		dw, err := d.ParseDuration(v)
		if err != nil || dw.Std() > s.maxWait {
			return d.FieldErrorf("wait", "wait must be a duration up to %s", d.Duration(s.maxWait))
		}
		wait = dw.Std()
	}
	s.metrics.agentConnected(1)
	defer s.metrics.agentConnected(-1)
	ds, err := s.svc.WatchState(r.Context(), a, int64(index), wait)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

func (s *Server) handleAgentAck(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.AckInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.svc.Ack(r.Context(), a, in); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAgentInventory(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var inv d.Inventory
	if err := decodeJSON(w, r, &inv); err != nil {
		return err
	}
	if err := s.svc.ReportInventory(r.Context(), a, inv); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAgentRenew(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in struct {
		CSR string `json:"csr"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	e, err := s.svc.Renew(r.Context(), a, in.CSR)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) handleAgentOffline(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	if err := s.svc.AgentStopped(r.Context(), a); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// boolParam reads a query flag: absent, "true" or "false" (nothing else:
// strconv.ParseBool's "1", "t" and "TRUE" are refused, as is "maybe").
func boolParam(v, name string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, d.FieldErrorf(name, "%s must be true or false, not %s", name, d.Excerpt(v))
}

// intParam reads a decimal count from 0 to max: digits only, no sign.
func intParam(v, name string, max int) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max || strings.TrimLeft(v, "0123456789") != "" {
		return 0, d.FieldErrorf(name, "%s must be an integer from 0 to %d", name, max)
	}
	return n, nil
}
