package web

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/control"
	"github.com/drawbridge/drawbridge/internal/oidc"
)

// Server is the HTTP face of a control.Service.
type Server struct {
	svc     *control.Service
	log     *slog.Logger
	trusted []netip.Prefix // proxies whose X-Forwarded-For is honoured
	metrics *Metrics
	ready   func(context.Context) error
	certID  func(*x509.Certificate) (string, error)
	maxWait time.Duration
	caPin   string
	mux     *http.ServeMux
	signIn  *signIn // OIDC sign-in and the session cookie (sessions.go)
}

// Options configure a Server.
type Options struct {
	TrustedProxies []netip.Prefix
	Metrics        *Metrics
	Ready          func(context.Context) error             // readiness probe (database ping)
	MachineIDOf    func(*x509.Certificate) (string, error) // reads a verified agent certificate
	CAPin          string                                  // shown with join tokens
	OIDC           *oidc.Verifier                          // OIDC sign-in; nil: off (API tokens only)
	CookieKey      []byte                                  // signs the sign-in cookie; empty: random per process
}

// New returns the server's handler with every route registered.
func New(svc *control.Service, log *slog.Logger, o Options) *Server {
	s := &Server{svc: svc, log: log, trusted: o.TrustedProxies, metrics: o.Metrics, ready: o.Ready, certID: o.MachineIDOf, maxWait: 60 * time.Second, caPin: o.CAPin, mux: http.NewServeMux(), signIn: newSignIn(o)}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler: request ID, panic safety, then the mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := d.RandomString(16)
	ctx := context.WithValue(r.Context(), ridKey{}, rid)
	r = r.WithContext(ctx)
	w.Header().Set("X-Request-Id", rid)
	w.Header().Set("Cache-Control", "no-store")
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				// A handler aborting a response it already started (a
				// streamed export that failed midway): let net/http cut the
				// connection, so the client sees a broken stream, never a
				// clean-looking truncated one.
				panic(p)
			}
			s.log.Error("panic in handler", "request_id", rid, "panic", p)
			s.writeError(sw, r, &d.Error{Kind: d.Internal})
		}
		s.log.Debug("http", "request_id", rid, "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
	}()
	s.mux.ServeHTTP(sw, r)
}

type ridKey struct{}

func requestID(ctx context.Context) string {
	s, _ := ctx.Value(ridKey{}).(string)
	return s
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientAddr returns the caller's address as the server sees it: the TCP
// peer, or — only when the peer is a trusted proxy — the rightmost address
// in X-Forwarded-For that is not itself a trusted proxy.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	var peer netip.Addr
	if err == nil {
		peer = ap.Addr().Unmap()
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		peer, _ = netip.ParseAddr(host)
		peer = peer.Unmap()
	}
	if !s.isTrusted(peer) {
		return peer
	}
	xff := r.Header.Values("X-Forwarded-For")
	parts := strings.Split(strings.Join(xff, ","), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return peer // malformed chain: trust nothing beyond the proxy
		}
		a = a.Unmap()
		if !s.isTrusted(a) {
			return a
		}
	}
	return peer
}

func (s *Server) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if a.IsValid() && p.Contains(a) {
			return true
		}
	}
	return false
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
