package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/certfleet/certfleet/db/store"
)

// maxBody bounds JSON request bodies.
const maxBody = 1 << 20

// badRequest is a client error the API reports as 400 with the field at fault.
type badRequest struct {
	field, message string
}

func (e *badRequest) Error() string { return e.field + ": " + e.message }

// forbiddenError is a request the caller's role may not make in this case,
// though the route itself is open to it.
type forbiddenError struct{ message string }

func (e *forbiddenError) Error() string { return e.message }

// conflictError is a change the current state refuses, with what is in the way.
type conflictError struct {
	message string
	details any
}

func (e *conflictError) Error() string { return e.message }

func fieldError(field, format string, args ...any) error {
	return &badRequest{field: field, message: fmt.Sprintf(format, args...)}
}

// decode reads a JSON body strictly: one object, no unknown fields, right types.
func decode(c *gin.Context, into any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(into)
	if err == nil && dec.More() {
		err = errors.New("the body holds more than one JSON value")
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &tooBig):
		abort(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", maxBody), nil)
	case errors.As(err, &typeErr):
		abort(c, http.StatusBadRequest, "invalid", fmt.Sprintf("%s: want %s, got %s", typeErr.Field, typeErr.Type, typeErr.Value), gin.H{"field": typeErr.Field})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		abort(c, http.StatusBadRequest, "invalid", "unknown field "+field, gin.H{"field": field})
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		abort(c, http.StatusBadRequest, "malformed_json", "the body is not valid JSON", nil)
	default:
		abort(c, http.StatusBadRequest, "malformed_json", err.Error(), nil)
	}
	return false
}

// page reads ?limit (1-100, default 50) and the keyset cursor ?after.
func page(c *gin.Context) (limit int32, after string, ok bool) {
	limit = 50
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			abort(c, http.StatusBadRequest, "invalid", "limit: 1 to 100", gin.H{"field": "limit"})
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
		abort(c, http.StatusNotFound, "not_found", "no such "+name, nil)
		return 0, false
	}
	return id, true
}

// fail answers an error from a handler in the API's error shape. Client
// mistakes get a 4xx naming what was wrong; anything else is logged and
// reported as an opaque 500, so that no SQL or path reaches a response.
func fail(c *gin.Context, err error) {
	var bad *badRequest
	var forbidden *forbiddenError
	var conflict *conflictError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &bad):
		abort(c, http.StatusBadRequest, "invalid", bad.Error(), gin.H{"field": bad.field})
	case errors.As(err, &forbidden):
		abort(c, http.StatusForbidden, "forbidden", forbidden.message, nil)
	case errors.As(err, &conflict):
		abort(c, http.StatusConflict, "conflict", conflict.message, conflict.details)
	case errors.Is(err, pgx.ErrNoRows):
		abort(c, http.StatusNotFound, "not_found", "not found", nil)
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		abort(c, http.StatusConflict, "conflict", "it exists already", gin.H{"constraint": pgErr.ConstraintName})
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		abort(c, http.StatusBadRequest, "invalid", "it refers to something that does not exist", gin.H{"constraint": pgErr.ConstraintName})
	case errors.As(err, &pgErr) && (pgErr.Code == "23514" || pgErr.Code == "22P02" || pgErr.Code == "22001"):
		abort(c, http.StatusBadRequest, "invalid", "a value is not allowed", gin.H{"constraint": pgErr.ConstraintName})
	default:
		_ = c.Error(err)
		abort(c, http.StatusInternalServerError, "internal", "internal error", nil)
	}
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
	id, err := strconv.ParseInt(after, 10, 64)
	if err != nil {
		fail(c, fieldError("after", "a cursor from the previous page"))
		return pgtype.Int8{}, false
	}
	return pgInt8(id), true
}

// nextCursor is the ?after= value for the page after rows: the key of its
// last row when the page is full, "" when it is the last page.
func nextCursor[T any](rows []T, limit int32, key func(T) string) string {
	if len(rows) < int(limit) || len(rows) == 0 {
		return ""
	}
	return key(rows[len(rows)-1])
}
