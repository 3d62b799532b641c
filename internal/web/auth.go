package web

import (
	"net/http"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// handlerFunc is an authenticated handler: the actor is passed explicitly.
type handlerFunc func(w http.ResponseWriter, r *http.Request, a d.Actor) error

// user wraps a handler for people and automation: a bearer token is required.
func (s *Server) user(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.authenticate(r)
		if err == nil {
			if err = h(w, r, a); err != nil {
				// A refused attempt by a known caller is audited (403, 400, 413).
				s.svc.AuditRefusal(r.Context(), a, r.Pattern, r.URL.Path, err)
			}
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}
}

// authenticate takes the bearer token, or else the browser's session cookie
// (state-changing cookie requests from another origin are refused: CSRF).
func (s *Server) authenticate(r *http.Request) (d.Actor, error) {
	tok, _, err := s.credential(r)
	if err != nil {
		return d.Actor{}, err
	}
	return s.svc.Authenticate(r.Context(), tok, s.clientAddr(r))
}

// agent wraps a handler for agents: a verified client certificate is
// required, its machine must exist, and it must be the machine named in the
// path — an agent can never read or change another machine's state.
func (s *Server) agent(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w = &serverTimeWriter{ResponseWriter: w, received: time.Now()}
		var a d.Actor // known once the certificate names an existing machine
		err := func() error {
			if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || s.certID == nil {
				return &d.Error{Kind: d.Unauthenticated, Message: "agent routes need a client certificate issued by this server"}
			}
			id, err := s.certID(r.TLS.VerifiedChains[0][0])
			if err != nil {
				return &d.Error{Kind: d.Unauthenticated, Message: "client certificate does not name a machine", Err: err}
			}
			m, err := s.svc.AgentMachine(r.Context(), d.MachineID(id))
			if err != nil {
				return err
			}
			a = d.Actor{Kind: d.ActorAgent, ID: string(m.ID), Name: m.Name, Source: s.clientAddr(r)}
			if want := r.PathValue("machine"); want != string(m.ID) {
				return &d.Error{Kind: d.Forbidden, Message: "this certificate belongs to machine " + string(m.ID) + ", not " + want}
			}
			return h(w, r, a)
		}()
		if err != nil {
			if a.ID != "" {
				s.svc.AuditRefusal(r.Context(), a, r.Pattern, r.URL.Path, err)
			}
			s.writeError(w, r, err)
		}
	}
}

// serverTimeWriter stamps an agent route's response with the server's clock
// (d.ServerTimeHeader): when the request arrived and when the response
// left, so that the agent can estimate its clock offset.
type serverTimeWriter struct {
	http.ResponseWriter
	received time.Time
	stamped  bool
}

func (w *serverTimeWriter) stamp() {
	if !w.stamped {
		w.stamped = true
		w.Header().Set(d.ServerTimeHeader, d.FormatServerTime(w.received, time.Now()))
	}
}

func (w *serverTimeWriter) WriteHeader(code int) {
	w.stamp()
	w.ResponseWriter.WriteHeader(code)
}

func (w *serverTimeWriter) Write(b []byte) (int, error) {
	w.stamp()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *serverTimeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// public wraps an unauthenticated handler (health, enrollment with a join token).
func (s *Server) public(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}
