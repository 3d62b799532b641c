package web

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	d "github.com/drawbridge/drawbridge"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// maxDrain is how much of an oversized body the server still reads (and
// discards) after answering 413, so that the client, still sending, is not
// reset before it can read the answer.
const maxDrain = 64 << 20

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may have gone; nothing to do
}

// listOf returns xs, or an empty list for nil: a list in a response is
// always a JSON array, [] when empty, never null.
func listOf[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// decodeJSON reads exactly one JSON object into v, strictly. Before the
// ordinary decode, a token-level pass (checkJSON) refuses what encoding/json
// lets through: duplicate keys, keys that match a field only if case is
// ignored, unknown keys, invalid UTF-8 and lone surrogate escapes in
// strings, and a body that is not an object (null, an array). Then unknown
// fields, trailing data, wrong types and oversized bodies are errors too.
// Every error names the field when there is one.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &d.Error{Kind: d.Invalid, Message: "Content-Type must be application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			drainTooLarge(w, r)
		}
		return jsonError(err)
	}
	return decodeBytes(body, v)
}

// decodeBytes is decodeJSON after the body was read.
func decodeBytes(body []byte, v any) error {
	if err := checkJSON(body, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &d.Error{Kind: d.Invalid, Message: "malformed JSON: trailing data after the object"}
	}
	return nil
}

// drainTooLarge reads and discards the rest of an oversized body (up to
// maxDrain), so the 413 reaches a client that is still sending: closing a
// connection with unread data makes the kernel send a reset, which can
// destroy the answer before the client reads it. The connection is closed
// after the answer either way.
func drainTooLarge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	// r.Body is the server's own body reader below the MaxBytesReader,
	// which refuses further reads once its limit is hit.
	_, _ = io.CopyN(io.Discard, r.Body, maxDrain)
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
		return &d.Error{Kind: d.Invalid, Field: typ.Field, Message: fmt.Sprintf("%s must be %s, not %s", fieldOr(typ.Field), jsonType(typ.Type.Kind().String()), d.Excerpt(typ.Value))}
	case errors.As(err, &derr):
		return derr
	case errors.Is(err, io.EOF):
		return &d.Error{Kind: d.Invalid, Message: "request body is empty; a JSON object is required"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &d.Error{Kind: d.Invalid, Message: "malformed JSON: unexpected end of body"}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f, _ = strconv.Unquote(f)
		return &d.Error{Kind: d.Invalid, Field: d.CleanText(f, 64), Message: "unknown field " + d.Excerpt(f)}
	}
	return &d.Error{Kind: d.Invalid, Message: "malformed JSON: " + d.CleanText(strings.TrimPrefix(msg, "json: "), 200)}
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

// checkJSON walks body token by token against the Go type t it will be
// decoded into (a pointer to a struct), and refuses, naming the field:
//   - a body that is not one JSON object (null, an array, a string);
//   - a key that appears twice in one object (encoding/json keeps the last);
//   - a key that matches a field only when case is ignored (encoding/json
//     would take "Port" for "port");
//   - a key that names no field (with its full path, which encoding/json's
//     own unknown-field error lacks);
//   - a string (key or value) that holds invalid UTF-8 or a \ud800-style
//     escape of a lone surrogate (encoding/json turns both into U+FFFD).
//
// Syntax errors are left to the decoder that runs next.
func checkJSON(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := &walker{dec: dec, body: body}
	tok, err := w.next()
	if err != nil {
		return jsonError(err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return &d.Error{Kind: d.Invalid, Message: "request body must be a JSON object, not " + describeToken(tok)}
	}
	return w.object(deref(t), "")
}

type walker struct {
	dec   *json.Decoder
	body  []byte
	prev  int64 // input offset before the last token
	depth int   // objects and arrays open
}

// maxDepth bounds nesting: no input needs more than a few levels, and the
// walk recurses per level.
const maxDepth = 32

// next reads a token and remembers where it started.
func (w *walker) next() (json.Token, error) {
	w.prev = w.dec.InputOffset()
	return w.dec.Token()
}

// raw returns the bytes of the last token read, without the separators
// and whitespace that precede it.
func (w *walker) raw() []byte {
	b := w.body[w.prev:w.dec.InputOffset()]
	return bytes.TrimLeft(b, " \t\r\n,:")
}

// value checks one value of type t (nil: unknown, checked for syntax-level
// rules only) at path, whose first token is tok.
func (w *walker) value(tok json.Token, t reflect.Type, path string) error {
	t = deref(t)
	if err := checkType(tok, t, path); err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		if w.depth++; w.depth > maxDepth {
			return &d.Error{Kind: d.Invalid, Message: fmt.Sprintf("request body nests objects and arrays more than %d deep", maxDepth)}
		}
		defer func() { w.depth-- }()
		switch v {
		case '{':
			return w.object(t, path)
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for i := 0; ; i++ {
				tok, err := w.next()
				if err != nil {
					return jsonError(err)
				}
				if tok == json.Delim(']') {
					return nil
				}
				if err := w.value(tok, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case string:
		if err := checkRawString(w.raw(), path, false); err != nil {
			return err
		}
	}
	if _, isDelim := tok.(json.Delim); t != nil && tok != nil && !isDelim {
		// A scalar of a type with its own decoding (a duration): decode it
		// here too, so that its error names the field (encoding/json's
		// would not).
		if u, ok := reflect.New(t).Interface().(json.Unmarshaler); ok {
			if err := u.UnmarshalJSON(w.raw()); err != nil {
				return d.FieldErrorf(path, "%s: %s", path, d.CleanText(err.Error(), 200))
			}
		}
	}
	return nil
}

// object checks the rest of an object (its '{' was read) decoded into t.
func (w *walker) object(t reflect.Type, path string) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = jsonFields(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	seen := map[string]bool{}
	for {
		tok, err := w.next()
		if err != nil {
			return jsonError(err)
		}
		if tok == json.Delim('}') {
			return nil
		}
		key, _ := tok.(string)
		at := key
		if path != "" {
			at = path + "." + key
		}
		if err := checkRawString(w.raw(), path, true); err != nil {
			return err
		}
		if seen[key] {
			return d.FieldErrorf(d.CleanText(at, 64), "duplicate key %s", d.Excerpt(key))
		}
		seen[key] = true
		ft := elem
		if fields != nil {
			var ok bool
			if ft, ok = fields[key]; !ok {
				for name := range fields {
					if strings.EqualFold(name, key) {
						return d.FieldErrorf(d.CleanText(at, 64), "unknown field %s: field names are case-sensitive; did you mean %q?", d.Excerpt(key), name)
					}
				}
				return d.FieldErrorf(d.CleanText(at, 64), "unknown field %s", d.Excerpt(key))
			}
		}
		tok, err = w.next()
		if err != nil {
			return jsonError(err)
		}
		if err := w.value(tok, ft, at); err != nil {
			return err
		}
	}
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkType refuses a value of the wrong JSON type for t, naming the field
// with its full path (encoding/json's own type errors leave out the
// indices). Types that decode themselves are left to their own decoding.
func checkType(tok json.Token, t reflect.Type, path string) error {
	if t == nil || tok == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil // null leaves a field unset, as if absent
	}
	ok := true
	want := ""
	switch t.Kind() {
	case reflect.String:
		_, ok = tok.(string)
		want = "a string"
	case reflect.Bool:
		_, ok = tok.(bool)
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, isNum := tok.(json.Number)
		_, err := strconv.ParseInt(string(n), 10, t.Bits())
		ok = isNum && err == nil
		want = fmt.Sprintf("an integer from %d to %d", int64(-1)<<(t.Bits()-1), int64(1)<<(t.Bits()-1)-1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, isNum := tok.(json.Number)
		_, err := strconv.ParseUint(string(n), 10, t.Bits())
		ok = isNum && err == nil
		want = fmt.Sprintf("an integer from 0 to %d", uint64(1)<<t.Bits()-1)
	case reflect.Slice, reflect.Array:
		ok = tok == json.Delim('[')
		want = "an array"
	case reflect.Struct, reflect.Map:
		ok = tok == json.Delim('{')
		want = "an object"
	}
	if ok {
		return nil
	}
	return d.FieldErrorf(path, "%s must be %s, not %s", fieldOr(path), want, describeValue(tok))
}

func describeValue(tok json.Token) string {
	switch v := tok.(type) {
	case json.Number:
		return d.Excerpt(string(v))
	case string:
		return "the string " + d.Excerpt(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return describeToken(tok)
}

// jsonFields maps the JSON names of t's fields, as encoding/json decodes
// them, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() {
			continue
		}
		tag, hasTag := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && tag == "-" {
			continue
		}
		if f.Anonymous && !hasTag && deref(f.Type).Kind() == reflect.Struct {
			continue // promoted: its fields are visited on their own
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := out[name]; !dup || len(f.Index) == 1 {
			out[name] = f.Type
		}
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// checkRawString checks a JSON string literal as it appears in the body
// (quotes included): valid UTF-8, and every \u escape of a surrogate half
// part of a pair. field is the value's path, or for a key the path of its
// object.
func checkRawString(raw []byte, field string, key bool) error {
	bad := func(what string) error {
		switch {
		case key && field == "":
			return &d.Error{Kind: d.Invalid, Message: "a key of the request body " + what}
		case key:
			return d.FieldErrorf(field, "a key of %s %s", field, what)
		}
		return d.FieldErrorf(field, "%s %s", field, what)
	}
	if !utf8.Valid(raw) {
		return bad("is not valid UTF-8")
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw[i+1:])
		if !ok {
			continue // a syntax error, for the decoder to report
		}
		i += 4
		switch {
		case r >= 0xd800 && r < 0xdc00:
			if next, ok := hex4(raw[min(i+3, len(raw)):]); ok && i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' && next >= 0xdc00 && next <= 0xdfff {
				i += 6
				continue
			}
			return bad("holds a lone surrogate escape (\\u" + strconv.FormatInt(int64(r), 16) + "), which is not a character")
		case r >= 0xdc00 && r <= 0xdfff:
			return bad("holds a lone surrogate escape (\\u" + strconv.FormatInt(int64(r), 16) + "), which is not a character")
		}
	}
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(n), err == nil
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		if v == '{' {
			return "an object"
		}
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "that"
}
