package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	d "github.com/drawbridge/drawbridge"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may have gone; nothing to do
}

// decodeJSON reads exactly one JSON object into v, strictly: unknown fields,
// trailing data, wrong types and oversized bodies are errors naming the field.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &d.Error{Kind: d.Invalid, Message: "Content-Type must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err)
		}
		return &d.Error{Kind: d.Invalid, Message: "malformed JSON: trailing data after the object"}
	}
	return nil
}

func jsonError(err error) error {
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		mbe  *http.MaxBytesError
		derr *d.Error
	)
	switch {
	case errors.As(err, &mbe):
		return &d.Error{Kind: d.TooLarge, Message: fmt.Sprintf("request body larger than %d bytes", maxBody)}
	case errors.As(err, &syn):
		return &d.Error{Kind: d.Invalid, Message: fmt.Sprintf("malformed JSON at byte %d", syn.Offset)}
	case errors.As(err, &typ):
		return &d.Error{Kind: d.Invalid, Field: typ.Field, Message: fmt.Sprintf("%s must be %s, not %s", fieldOr(typ.Field), jsonType(typ.Type.Kind().String()), typ.Value)}
	case errors.As(err, &derr):
		return derr
	case errors.Is(err, io.EOF):
		return &d.Error{Kind: d.Invalid, Message: "request body is empty; a JSON object is required"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &d.Error{Kind: d.Invalid, Message: "malformed JSON: unexpected end of body"}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return &d.Error{Kind: d.Invalid, Field: f, Message: fmt.Sprintf("unknown field %q", f)}
	}
	return &d.Error{Kind: d.Invalid, Message: "malformed JSON: " + strings.TrimPrefix(msg, "json: ")}
}

func fieldOr(f string) string {
	if f == "" {
		return "the body"
	}
	return f
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "int"):
		return "an integer in range"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case kind == "slice":
		return "an array"
	case kind == "struct", kind == "map":
		return "an object"
	}
	return kind
}
