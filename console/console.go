// Package console serves certfleet's web console: a single-page app (Preact,
// TypeScript, Chart.js; built by Vite into dist/app, see `make console`) that
// speaks the operations API with a session cookie. The built files are
// embedded in the binary, and the pages make no outside request.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist
var built embed.FS

// Built reports whether the binary holds a built console, not only the
// placeholder a clone without `make console` has.
func Built() bool {
	_, err := fs.Stat(built, "dist/app/index.html")
	return err == nil
}

// notBuilt answers when the binary was built without the console.
const notBuilt = `<!doctype html><html lang="en"><meta charset="utf-8"><title>certfleet</title>
<p>The web console was not built into this binary: run <code>make console</code> (or <code>make run</code>), then build certfleet again. The API is at <code>/api/v1/</code>.</p></html>
`

// Handler serves the console: a file of the build, or its index.html for
// any other path, which the app routes itself.
func Handler() http.Handler {
	dist, err := fs.Sub(built, "dist/app")
	if err != nil {
		panic(err) // dist is embedded; Sub fails only on a malformed name
	}
	index, err := fs.ReadFile(dist, "index.html")
	files := http.FileServerFS(dist)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w.Header())
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if info, statErr := fs.Stat(dist, name); statErr == nil && !info.IsDir() && name != "index.html" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			files.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		// Explicitly: a router may have set 404 for a path it does not know.
		w.WriteHeader(http.StatusOK)
		if err != nil {
			w.Write([]byte(notBuilt)) //nolint:errcheck // the client has gone
			return
		}
		w.Write(index) //nolint:errcheck // the client has gone
	})
}

// secure sets the headers that keep the console to its own origin: no
// script, style or connection from elsewhere, no framing, no sniffing.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
