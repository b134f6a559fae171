package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/errkind"
)

// maxBody bounds JSON request bodies.
const maxBody = 1 << 20

// fieldError is the API's most common refusal: a request field that is wrong.
func fieldError(field, format string, args ...any) error {
	return errkind.Invalid(field, format, args...)
}

// decode reads a JSON body strictly: one object, no unknown fields, right
// types. A refusal names the field at fault in the client's words, never a
// Go type or time layout.
//
// A string holding NUL (\u0000) or bytes that are not UTF-8 is refused too,
// naming its field: Postgres cannot store it, and would fail the request
// with a 500 after the decode.
func decode(c *gin.Context, into any) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err = dec.Decode(into)
		if err == nil && dec.More() {
			err = errkind.Invalid("body", "more than one JSON value")
		}
	}
	if _, kinded := errkind.As(err); err != nil && !kinded {
		err = decodeError(err)
	}
	if err == nil {
		err = checkJSONText(raw)
	}
	if err != nil {
		fail(c, err)
		return false
	}
	return true
}

// decodeError says what is wrong with a body the JSON decoder refused.
func decodeError(err error) error {
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var timeErr *time.ParseError
	field, unknown := strings.CutPrefix(err.Error(), "json: unknown field ")
	switch {
	case errors.As(err, &tooBig):
		return errkind.TooLarge("the body is larger than %d bytes", maxBody)
	case errors.As(err, &typeErr):
		return errkind.Invalid(cmp.Or(typeErr.Field, "body"), "want %s, got %s", want(typeErr.Type), typeErr.Value)
	case unknown:
		field = strings.Trim(field, `"`)
		return errkind.Invalid(field, "unknown field")
	case errors.As(err, &timeErr): // a time.Time of a domain type, which cannot say its field
		return errkind.Invalid("body", "%q is not an RFC 3339 time such as %s", timeErr.Value, exampleTime)
	}
	return errkind.Invalid("body", "not valid JSON")
}

// want says what a JSON value of type t looks like.
func want(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time such as " + exampleTime
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number from 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

// exampleTime shows the RFC 3339 form in refusals, where Go's own errors
// would show its layout string.
const exampleTime = "2026-01-31T02:00:00Z"

// timestamp is a time in a request body. time.Time refuses a malformed time
// with an error naming neither the field nor the format, only Go's layout;
// timestamp refuses it as a type mismatch, which the decoder tags with the
// field and decodeError words as "want an RFC 3339 time".
type timestamp struct{ time.Time }

func (t *timestamp) UnmarshalJSON(b []byte) error {
	if err := t.Time.UnmarshalJSON(b); err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[time.Time]()}
	}
	return nil
}

// page reads ?limit (1-100, default 50) and the keyset cursor ?after.
func page(c *gin.Context) (limit int32, after string, ok bool) {
	limit = 50
	if s := c.Query("limit"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 1 || n > 100 {
			fail(c, fieldError("limit", "1 to 100"))
			return 0, "", false
		}
		limit = int32(n)
	}
	return limit, c.Query("after"), true
}

// pathID reads a numeric ID from the path.
func pathID(c *gin.Context, name string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		fail(c, errkind.NotFound("no such %s", name))
		return 0, false
	}
	return id, true
}

// fail answers an error from a handler in the API's error shape: the one
// place where refusals become statuses. A refusal of a kind (see errkind),
// or one of Postgres' refusals of a row, gets the kind's status and code, its
// message, its details and, for an invalid request, details.field. Anything
// else, and the cause of an unavailable dependency, is logged and not shown,
// so that no SQL, address or path reaches a response.
func fail(c *gin.Context, err error) {
	kinded, ok := errkind.As(err)
	if !ok {
		kinded = postgresRefusal(err)
	}
	switch kinded.Kind() {
	case 0:
		_ = c.Error(err)
		abort(c, http.StatusInternalServerError, "internal", "internal error", nil)
		return
	case errkind.KindUnavailable:
		_ = c.Error(err)
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	abort(c, kinded.Kind().Status(), kinded.Kind().String(), clientMessage(kinded), clientDetails(kinded))
}

// postgresRefusal is the refusal a Postgres error stands for, naming the
// constraint at fault; nil when it stands for none.
func postgresRefusal(err error) *errkind.Error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errkind.NotFound("not found")
	}
	if unavailable := db.Unavailable(err); unavailable != nil {
		return unavailable
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil
	}
	constraint := map[string]any{"constraint": pgErr.ConstraintName}
	switch pgErr.Code {
	case "23505":
		return errkind.Conflict("it exists already").With(constraint)
	case "23503":
		return errkind.Invalid("", "it refers to something that does not exist").With(constraint)
	case "23514", "22P02", "22001":
		return errkind.Invalid("", "a value is not allowed").With(constraint)
	}
	return nil
}

// clientMessage is a refusal's message, led by the field at fault.
func clientMessage(e *errkind.Error) string {
	if e.Field() == "" {
		return e.Message()
	}
	return e.Field() + ": " + e.Message()
}

// clientDetails are a refusal's details, with the field at fault as "field";
// nil when there are none, so that the shape leaves them out.
func clientDetails(e *errkind.Error) any {
	details := map[string]any{}
	maps.Copy(details, e.Details())
	if e.Field() != "" {
		details["field"] = e.Field()
	}
	if len(details) == 0 {
		return nil
	}
	return details
}

// change runs fn in a transaction and writes its audit row in the same one:
// a change is recorded if and only if it happened.
func (s *server) change(c *gin.Context, action, objectType string, fn func(q *store.Queries) (ids []string, details any, err error)) error {
	return s.changeTx(c, action, objectType, func(tx pgx.Tx) ([]string, any, error) { return fn(store.New(tx)) })
}

// changeTx is change for domain code that takes the transaction itself.
func (s *server) changeTx(c *gin.Context, action, objectType string, fn func(tx pgx.Tx) (ids []string, details any, err error)) error {
	return pgx.BeginFunc(c.Request.Context(), s.pool, func(tx pgx.Tx) error {
		ids, details, err := fn(tx)
		if err != nil {
			return err
		}
		return record(c.Request.Context(), store.New(tx), principal(c).Actor(), action, objectType, ids, details)
	})
}

// changeNamed runs fn, a change of the objectType the path's :name names
// (a what, in refusals), audited as action with details; a refusal is
// answered, and ok says there was none.
func changeNamed[T any](s *server, c *gin.Context, action, objectType, what string, details any, fn func(q *store.Queries) (T, error)) (row T, ok bool) {
	name := c.Param("name")
	err := s.change(c, action, objectType, func(q *store.Queries) ([]string, any, error) {
		var err error
		row, err = fn(q)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, errkind.NotFound("no %s %q", what, name)
		}
		return []string{name}, details, err
	})
	if err != nil {
		fail(c, err)
		return row, false
	}
	return row, true
}

func record(ctx context.Context, q *store.Queries, actor, action, objectType string, ids []string, details any) error {
	data, err := json.Marshal(details)
	if err != nil || details == nil {
		data = []byte("{}")
	}
	return q.RecordAudit(ctx, store.RecordAuditParams{Actor: actor, Action: action, ObjectType: objectType, ObjectIds: ids, Details: data})
}

// idCursor reads a numeric ?after= cursor; none is NULL, the first page.
func idCursor(c *gin.Context, after string) (pgtype.Int8, bool) {
	if after == "" {
		return pgtype.Int8{}, true
	}
	id, ok := afterID(c, after)
	return pgInt8(id), ok
}

// afterID reads a numeric ?after= cursor of a list whose first page is
// after ID 0; none is 0.
func afterID(c *gin.Context, after string) (int64, bool) {
	if after == "" {
		return 0, true
	}
	id, err := strconv.ParseInt(after, 10, 64)
	if err != nil || id < 0 {
		fail(c, fieldError("after", "a cursor from the previous page"))
		return 0, false
	}
	return id, true
}

// nextCursor is the ?after= value for the page after rows: the key of its
// last row when the page is full, "" when it is the last page.
func nextCursor[T any](rows []T, limit int32, key func(T) string) string {
	if len(rows) < int(limit) || len(rows) == 0 {
		return ""
	}
	return key(rows[len(rows)-1])
}

// listSort is a list's ?sort= (one of the list's keys; the first is the
// default) and ?order= (asc, the default, or desc).
type listSort struct {
	by         string
	descending bool
}

func sortOf(c *gin.Context, keys []string) (listSort, error) {
	sort := listSort{by: c.DefaultQuery("sort", keys[0])}
	if !slices.Contains(keys, sort.by) {
		return sort, fieldError("sort", "want one of %v", keys)
	}
	switch c.DefaultQuery("order", "asc") {
	case "asc":
	case "desc":
		sort.descending = true
	default:
		return sort, fieldError("order", "want asc or desc")
	}
	return sort, nil
}
