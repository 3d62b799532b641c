package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Bounds on a URL, in bytes.
const (
	maxPath       = 2048
	maxQueryValue = 1024
)

// handlerFunc is an authenticated handler: the actor is passed explicitly.
type handlerFunc func(w http.ResponseWriter, r *http.Request, a d.Actor) error

// user wraps a handler for people and automation: a bearer token is
// required, and the query may hold only the parameters named in params (see
// checkQuery).
func (s *Server) user(h handlerFunc, params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.authenticate(r)
		if err == nil {
			if err = checkQuery(r, params); err == nil {
				err = h(w, r, a)
			}
			if err != nil {
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
// path — an agent can never read or change another machine's state. The
// query may hold only the parameters named in params.
func (s *Server) agent(h handlerFunc, params ...string) http.HandlerFunc {
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
			if err := checkQuery(r, params); err != nil {
				return err
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

// checkQuery refuses a query that does not parse, names a parameter the
// route does not take, gives one twice, or has a value that is not clean
// text (d.CheckText): each a 400 naming it, so that a misspelt filter
// (?stauts=dead) is never silently ignored. The path (whose segments are
// IDs and names) must be clean text too.
func checkQuery(r *http.Request, params []string) error {
	if d.CheckText("path", r.URL.Path, maxPath) != nil {
		return &d.Error{Kind: d.Invalid, Message: "the URL path is not valid UTF-8, holds control characters or is too long"}
	}
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return &d.Error{Kind: d.Invalid, Message: "malformed query string"}
	}
	for name, vs := range q {
		if !slices.Contains(params, name) {
			field := d.CleanText(name, 64)
			if len(params) == 0 {
				return d.FieldErrorf(field, "unknown query parameter %s: this route takes none", d.Excerpt(name))
			}
			return d.FieldErrorf(field, "unknown query parameter %s (this route takes %s)", d.Excerpt(name), strings.Join(params, ", "))
		}
		if len(vs) > 1 {
			return d.FieldErrorf(name, "query parameter %s is given %d times", name, len(vs))
		}
		if err := d.CheckText(name, vs[0], maxQueryValue); err != nil {
			return err
		}
	}
	return nil
}
