package metrics

import (
	"log/slog"
	"net/http"
	"time"
)

// HTTP counts and times the requests next answers, as server's, and logs
// one line for each. Their route is the ServeMux pattern that matched (known
// only once next has run), or what route says when it is set; "unmatched"
// when neither names one.
func HTTP(server string, route func(*http.Request) string, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		name := r.Pattern
		if route != nil {
			name = route(r)
		}
		if name == "" {
			name = "unmatched"
		}
		took := time.Since(start)
		Request(server, name, r.Method, sw.status, took)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "http request", slog.String("server", server), slog.String("method", r.Method),
			slog.String("route", name), slog.Int("status", sw.status), slog.Int64("duration_ms", took.Milliseconds()), slog.String("client", r.RemoteAddr))
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// methods are the HTTP methods named in labels; any other is "other".
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

func method(m string) string {
	if methods[m] {
		return m
	}
	return "other"
}
