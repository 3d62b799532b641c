package drawbridge_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"

	d "github.com/drawbridge/drawbridge"
)

// equateNet lets cmp compare the net/netip values, which have unexported fields.
var equateNet = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

// checkError fails t unless err is an *Error of kind with the given field.
func checkError(t *testing.T, err error, kind d.Kind, field string) {
	t.Helper()
	var e *d.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *drawbridge.Error of kind %s", err, err, kind)
	}
	if e.Kind != kind || e.Field != field {
		t.Errorf("error = %v: kind %q field %q, want kind %q field %q", err, e.Kind, e.Field, kind, field)
	}
}
