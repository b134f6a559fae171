// Package errkind is certfleet's one vocabulary of refusals. Domain packages
// raise an Error of a Kind (invalid, not found, conflict…) where they decide
// to refuse; each edge (the operations API, the EST server) turns a Kind into
// its answer in one place, so that no edge keeps a list of every package's
// sentinel errors. A Kind carries its HTTP status, as the edges share it.
package errkind

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind is what sort of refusal an error is. The zero Kind is none: a failure
// the caller cannot fix, which edges report as an opaque internal error.
type Kind int

// The kinds, with the HTTP status and API error code each one gets.
const (
	// KindInvalid is a request that is wrong; Field names where.
	KindInvalid Kind = iota + 1
	// KindUnauthenticated is a request without a valid credential.
	KindUnauthenticated
	// KindForbidden is a request the caller may not make.
	KindForbidden
	// KindNotFound is a request naming something that does not exist.
	KindNotFound
	// KindConflict is a change the current state refuses.
	KindConflict
	// KindTooLarge is a request over a size limit.
	KindTooLarge
	// KindUnavailable is a dependency that did not answer: retrying later may work.
	KindUnavailable
)

var kinds = map[Kind]struct {
	status int
	code   string
}{
	0:                   {http.StatusInternalServerError, "internal"},
	KindInvalid:         {http.StatusBadRequest, "invalid"},
	KindUnauthenticated: {http.StatusUnauthorized, "unauthorized"},
	KindForbidden:       {http.StatusForbidden, "forbidden"},
	KindNotFound:        {http.StatusNotFound, "not_found"},
	KindConflict:        {http.StatusConflict, "conflict"},
	KindTooLarge:        {http.StatusRequestEntityTooLarge, "too_large"},
	KindUnavailable:     {http.StatusServiceUnavailable, "unavailable"},
}

// Status is the HTTP status of a refusal of kind k.
func (k Kind) Status() int { return kinds[k].status }

// String is k's name, the API's error code.
func (k Kind) String() string { return kinds[k].code }

// Error is a refusal of a Kind. Its message is written for whoever made the
// request; a cause, when there is one, is for logs only.
type Error struct {
	kind    Kind
	field   string
	details map[string]any
	message error // the text, and the errors it wraps with %w
	cause   error
}

func newError(kind Kind, field, format string, args []any) *Error {
	return &Error{kind: kind, field: field, message: fmt.Errorf(format, args...)}
}

// Invalid is a request whose field is wrong. A field in a list or object is
// written as the client wrote it: "windows[0].start", "ca_settings.url"; ""
// is for a refusal that cannot tell the field, such as a database constraint's.
func Invalid(field, format string, args ...any) *Error {
	return newError(KindInvalid, field, format, args)
}

// Unauthenticated is a request without a valid credential.
func Unauthenticated(format string, args ...any) *Error {
	return newError(KindUnauthenticated, "", format, args)
}

// Forbidden is a request the caller may not make.
func Forbidden(format string, args ...any) *Error {
	return newError(KindForbidden, "", format, args)
}

// NotFound is a request naming something that does not exist.
func NotFound(format string, args ...any) *Error {
	return newError(KindNotFound, "", format, args)
}

// Conflict is a change the current state refuses.
func Conflict(format string, args ...any) *Error {
	return newError(KindConflict, "", format, args)
}

// TooLarge is a request over a size limit.
func TooLarge(format string, args ...any) *Error {
	return newError(KindTooLarge, "", format, args)
}

// Unavailable is a dependency that did not answer. The message says what
// could not be done; cause says why, and stays out of the message, because
// a dependency's errors can name hosts and users.
func Unavailable(cause error, format string, args ...any) *Error {
	e := newError(KindUnavailable, "", format, args)
	e.cause = cause
	return e
}

// With returns a copy of e with details a client can act on beyond the
// message, such as the devices in the way of a change.
func (e *Error) With(details map[string]any) *Error {
	c := *e
	c.details = details
	return &c
}

// Kind is e's kind. A nil *Error has none, so that the result of As needs
// no check before its kind is compared.
func (e *Error) Kind() Kind {
	if e == nil {
		return 0
	}
	return e.kind
}

// Field is the request field at fault, for an Invalid error; "" otherwise.
func (e *Error) Field() string { return e.field }

// Details are what With added.
func (e *Error) Details() map[string]any { return e.details }

// Message is what the requester may read: the text, without the field or
// the cause.
func (e *Error) Message() string { return e.message.Error() }

// Error is the field, the message and the cause, as logs want them.
func (e *Error) Error() string {
	s := e.Message()
	if e.field != "" {
		s = e.field + ": " + s
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap is what the message wraps, and the cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.message}
	}
	return []error{e.message, e.cause}
}

// As finds the first Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf is the kind of the first Error in err's chain, 0 if there is none.
func KindOf(err error) Kind {
	e, _ := As(err)
	return e.Kind()
}
