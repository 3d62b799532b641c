package drawbridge

import (
	"errors"
	"fmt"
)

// Kind classifies an error. Each kind maps to exactly one HTTP status (see
// HTTPStatus), and back.
type Kind string

// Error kinds. The list only grows.
const (
	Invalid         Kind = "invalid"            // bad input; Field names the offender
	Unauthenticated Kind = "unauthenticated"    // no or bad credentials
	Forbidden       Kind = "forbidden"          // authenticated, not allowed
	NotFound        Kind = "not_found"          // no such thing (or not visible to the caller)
	Conflict        Kind = "conflict"           // state does not allow the change
	Unavailable     Kind = "unavailable"        // try again later (machine offline, timeout)
	TooLarge        Kind = "too_large"          // request body or list too large
	NotAllowed      Kind = "method_not_allowed" // the route exists, not with this HTTP method
	Internal        Kind = "internal"           // a bug or an unexpected fault; details only in the log
)

// kindStatus is the one Kind ↔ HTTP status table: the server answers an
// error of a Kind with its status (internal/web), and the client reads a
// status that came without an error body back as its Kind (client). The
// vocabulary stays off net/http, so statuses are numbers here; the test
// names them.
var kindStatus = [...]struct {
	kind   Kind
	status int
}{
	{Invalid, 400},         // Bad Request
	{Unauthenticated, 401}, // Unauthorized
	{Forbidden, 403},       // Forbidden
	{NotFound, 404},        // Not Found
	{NotAllowed, 405},      // Method Not Allowed
	{Conflict, 409},        // Conflict
	{TooLarge, 413},        // Request Entity Too Large
	{Internal, 500},        // Internal Server Error
	{Unavailable, 503},     // Service Unavailable
}

// HTTPStatus returns the HTTP status that answers an error of kind k: 500
// for Internal and for a kind the table does not know.
func (k Kind) HTTPStatus() int {
	for _, e := range kindStatus {
		if e.kind == k {
			return e.status
		}
	}
	return 500
}

// KindOfStatus returns the Kind an HTTP error status stands for: Internal
// for a status no Kind is answered with.
func KindOfStatus(status int) Kind {
	for _, e := range kindStatus {
		if e.status == status {
			return e.kind
		}
	}
	return Internal
}

// Error is Drawbridge's one error type. Message is safe to show to the caller;
// Err (if any) is the underlying cause, for logs only.
type Error struct {
	Kind    Kind
	Message string
	Field   string // the input field at fault, for Invalid
	Err     error  // underlying cause, never shown to callers
}

// Error implements error.
func (e *Error) Error() string {
	s := string(e.Kind)
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind k with a formatted message.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an Invalid *Error naming field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the Kind of the first *Error in err's chain, or Internal.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// AsError returns the first *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// WithField returns a copy of err with Field prefixed by prefix ("targets[1]."),
// if err is an *Error with a field; otherwise err unchanged.
func WithField(err error, prefix string) error {
	e := AsError(err)
	if e == nil {
		return err
	}
	c := *e
	if c.Field == "" {
		c.Field = prefix
	} else {
		c.Field = prefix + "." + c.Field
	}
	return &c
}
