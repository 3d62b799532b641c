package web

import (
	_ "embed"
	"net/http"
)

// openAPI is the hand-written OpenAPI 3.0.3 document: the API's contract.
// A test checks that every route in routes.go is described in it.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
