package web

import (
	"context"
	"errors"
	"net/http"

	d "github.com/drawbridge/drawbridge"
)

// Bounds on an error's message and field, in bytes.
const (
	maxErrorMessage = 512
	maxErrorField   = 128
)

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes one error. A 500 carries only the request ID; the
// cause is in the server log under that ID.
type ErrorDetail struct {
	Code      d.Kind `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id"`
}

// writeError maps err to a status and body, logging internal errors.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	rid := requestID(r.Context())
	e := d.AsError(err)
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away
	case errors.Is(err, context.DeadlineExceeded):
		e = &d.Error{Kind: d.Unavailable, Message: "timed out"}
	case e == nil:
		e = &d.Error{Kind: d.Internal}
	}
	status := e.Kind.HTTPStatus()
	// Bounded and clean whatever built the message: errors quote bad values
	// as d.Excerpt does, and this is the backstop.
	body := ErrorBody{Error: ErrorDetail{Code: e.Kind, Message: d.CleanText(e.Message, maxErrorMessage), Field: d.CleanText(e.Field, maxErrorField), RequestID: rid}}
	if status == http.StatusInternalServerError {
		s.log.Error("internal error", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err)
		body.Error = ErrorDetail{Code: d.Internal, Message: "internal error (request " + rid + ")", RequestID: rid}
	} else {
		s.log.Debug("request failed", "request_id", rid, "status", status, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="drawbridge"`)
	}
	writeJSON(w, status, body)
}
