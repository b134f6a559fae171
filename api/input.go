package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/certfleet/certfleet/errkind"
)

// retryAfterSeconds is the Retry-After of a 503: a dependency that did not
// answer is worth asking again soon, not at once.
const retryAfterSeconds = 5

// textProblem says what makes s unfit for Postgres' text: "" when nothing.
func textProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL character"
	}
	return ""
}

// checkInput refuses a request whose path segments or query values Postgres
// could not store or compare (a NUL byte, bytes that are not UTF-8) with a
// 400 naming the parameter, before any handler runs a query with them.
func checkInput(c *gin.Context) {
	for _, p := range c.Params {
		if problem := textProblem(p.Value); problem != "" {
			fail(c, errkind.Invalid(p.Key, "the path segment %s", problem))
			return
		}
	}
	query := c.Request.URL.Query()
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range query {
			if !yield(k) {
				return
			}
		}
	}) {
		if problem := textProblem(name); problem != "" {
			fail(c, errkind.Invalid("query", "a parameter name %s", problem))
			return
		}
		for _, v := range query[name] {
			if problem := textProblem(v); problem != "" {
				fail(c, errkind.Invalid(name, "%s", problem))
				return
			}
		}
	}
	c.Next()
}

// checkJSONText refuses a JSON body holding a string (a key or a value)
// that Postgres cannot store: NUL (\u0000) or bytes that are not UTF-8, which
// the decoder would otherwise silently replace. The refusal names the field
// as clients write it ("windows[0].start"). raw has been decoded already, so
// it is valid JSON but for its text.
func checkJSONText(raw []byte) error {
	bad := firstInvalidUTF8(raw)
	if bad < 0 && !bytes.Contains(raw, []byte(`\u0000`)) {
		return nil
	}
	type frame struct {
		array   bool
		key     string
		index   int
		wantKey bool
	}
	var stack []*frame
	// path names the value being read; while the top object awaits a key,
	// the object itself.
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case f.array:
				fmt.Fprintf(&b, "[%d]", f.index)
			case !f.wantKey:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		if b.Len() == 0 {
			return "body"
		}
		return b.String()
	}
	advance := func() {
		if len(stack) == 0 {
			return
		}
		if f := stack[len(stack)-1]; f.array {
			f.index++
		} else {
			f.wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		end := dec.InputOffset()
		s, isString := tok.(string)
		problem := ""
		if isString {
			if bad >= int(start) && bad < int(end) {
				problem = "not valid UTF-8"
			} else if strings.IndexByte(s, 0) >= 0 {
				problem = "holds a NUL character"
			}
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch {
		case isString && top != nil && !top.array && top.wantKey:
			if problem != "" {
				return errkind.Invalid(path(), "a key %s", problem)
			}
			top.key, top.wantKey = s, false
		case tok == json.Delim('{') || tok == json.Delim('['):
			stack = append(stack, &frame{array: tok == json.Delim('['), wantKey: true})
		case tok == json.Delim('}') || tok == json.Delim(']'):
			stack = stack[:len(stack)-1]
			advance()
		default:
			if problem != "" {
				return errkind.Invalid(path(), "%s", problem)
			}
			advance()
		}
	}
}

// firstInvalidUTF8 is the offset of the first byte of b that is not UTF-8,
// -1 when all are.
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}
