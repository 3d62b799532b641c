package drawbridge_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"strconv"
	"testing"

	d "github.com/drawbridge/drawbridge"
)

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *d.Error
		want string
	}{
		{"kind only", &d.Error{Kind: d.NotFound}, "not_found"},
		{"message", d.Errorf(d.Conflict, "machine %s is busy", "web-1"), "conflict: machine web-1 is busy"},
		{"field", d.FieldErrorf("rules[0].port", "bad port"), "invalid (rules[0].port): bad port"},
		{"cause", &d.Error{Kind: d.Internal, Message: "save", Err: io.EOF}, "internal: save: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want d.Kind
	}{
		{"direct", d.Errorf(d.Forbidden, "no"), d.Forbidden},
		{"wrapped", fmt.Errorf("revoke: %w", d.Errorf(d.NotFound, "no such request")), d.NotFound},
		{"plain error", io.EOF, d.Internal},
		{"nil", nil, d.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.ErrorKind(tt.err); got != tt.want {
				t.Errorf("ErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	err := fmt.Errorf("store: %w", &d.Error{Kind: d.Unavailable, Err: io.ErrUnexpectedEOF})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = false", err)
	}
	if e := d.AsError(err); e == nil || e.Kind != d.Unavailable {
		t.Errorf("AsError(%v) = %v", err, e)
	}
	if e := d.AsError(io.EOF); e != nil {
		t.Errorf("AsError(io.EOF) = %v, want nil", e)
	}
}

func TestWithField(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		prefix    string
		wantField string
	}{
		{"no field yet", d.FieldErrorf("", "bad"), "targets[1]", "targets[1]"},
		{"nested field", d.FieldErrorf("port", "bad"), "targets[1]", "targets[1].port"},
		{"wrapped", fmt.Errorf("check: %w", d.FieldErrorf("source", "bad")), "targets[0]", "targets[0].source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := d.AsError(tt.err).Field
			got := d.WithField(tt.err, tt.prefix)
			checkError(t, got, d.Invalid, tt.wantField)
			if after := d.AsError(tt.err).Field; after != before {
				t.Errorf("WithField changed the original's field from %q to %q", before, after)
			}
		})
	}
	if got := d.WithField(io.EOF, "x"); got != io.EOF {
		t.Errorf("WithField(io.EOF) = %v, want io.EOF unchanged", got)
	}
}

// TestKindStatus: every Kind has its own HTTP status, and the status reads
// back as the same Kind, so an error survives the trip from server to
// client even without its JSON body.
func TestKindStatus(t *testing.T) {
	tests := []struct {
		kind   d.Kind
		status int
	}{
		{d.Invalid, http.StatusBadRequest},
		{d.Unauthenticated, http.StatusUnauthorized},
		{d.Forbidden, http.StatusForbidden},
		{d.NotFound, http.StatusNotFound},
		{d.Conflict, http.StatusConflict},
		{d.Unavailable, http.StatusServiceUnavailable},
		{d.TooLarge, http.StatusRequestEntityTooLarge},
		{d.NotAllowed, http.StatusMethodNotAllowed},
		{d.Internal, http.StatusInternalServerError},
	}
	listed := map[d.Kind]bool{}
	for _, tt := range tests {
		listed[tt.kind] = true
	}
	for _, k := range declaredKinds(t) {
		if !listed[k] {
			t.Errorf("Kind %q is declared in error.go but missing here (and maybe in the status table)", k)
		}
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			if got := tt.kind.HTTPStatus(); got != tt.status {
				t.Errorf("%q.HTTPStatus() = %d, want %d", tt.kind, got, tt.status)
			}
			if got := d.KindOfStatus(tt.status); got != tt.kind {
				t.Errorf("KindOfStatus(%d) = %q, want %q", tt.status, got, tt.kind)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if got := d.Kind("no_such_kind").HTTPStatus(); got != http.StatusInternalServerError {
			t.Errorf("unknown kind: HTTPStatus() = %d, want 500", got)
		}
		for _, status := range []int{http.StatusTeapot, http.StatusBadGateway, http.StatusOK} {
			if got := d.KindOfStatus(status); got != d.Internal {
				t.Errorf("KindOfStatus(%d) = %q, want internal", status, got)
			}
		}
	})
}

// declaredKinds returns the values of the Kind constants declared in
// error.go, so a new Kind cannot miss the status table.
func declaredKinds(t *testing.T) []d.Kind {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []d.Kind
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Kind" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("a Kind constant is not a string literal: %T", v)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				kinds = append(kinds, d.Kind(s))
			}
		}
	}
	if len(kinds) == 0 {
		t.Fatal("found no Kind constants in error.go")
	}
	return kinds
}
