package drawbridge_test

import (
	"errors"
	"fmt"
	"io"
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
