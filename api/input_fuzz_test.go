package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// FuzzJSONText: whatever JSON body a client sends, checkJSONText refuses it,
// naming a field, or every string in it (keys too) is text Postgres can
// store: valid UTF-8 without NUL. Never a panic.
func FuzzJSONText(f *testing.F) {
	for _, seed := range []string{
		`{"name":"Lobby","device_type":"camera"}`,
		`{"name":"Lobby\u0000"}`,
		"{\"name\":\"Lobby \xff\"}",
		`{"windows":[{"days":["mon"],"start":"01:00\u0000"}]}`,
		`{"a":{"b":[1,"x",{"c\u0000":true}]}}`,
		`["\u0000"]`,
		`"\u0000"`,
		`{"limit":99999999999999999999,"offset":4294967296,"id":2147483648}`,
		`{"name":"\\u0000 is text, not NUL"}`,
		"{\"k\xc3\x28\":1}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var decoded any
		if json.Unmarshal(raw, &decoded) != nil {
			return // decode refuses it first
		}
		err := checkJSONText(raw)
		if err != nil {
			if !strings.Contains(err.Error(), ":") {
				t.Fatalf("a refusal that names no field: %v", err)
			}
			return
		}
		if !utf8.Valid(raw) {
			t.Fatalf("admitted bytes that are not UTF-8: %q", raw)
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				if strings.ContainsRune(v, 0) {
					t.Fatalf("admitted a NUL in %q", raw)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			case map[string]any:
				for k, x := range v {
					walk(k)
					walk(x)
				}
			}
		}
		walk(decoded)
	})
}

// FuzzRequestInput: whatever path segment and query a client sends to a
// route that reads a page, a job list's sort and offset, and a numeric path
// ID, the answer is a 2xx or a 4xx, never a 5xx; and numbers beyond what the
// API reads are refused rather than wrapped.
func FuzzRequestInput(f *testing.F) {
	for _, seed := range [][2]string{
		{"cam-1", "limit=10&offset=20"},
		{"cam\x00-1", "device_type=camera"},
		{"cam-\xff", "after=%00"},
		{"1", "offset=2147483648"},
		{"1", "offset=4294967296"},
		{"1", "limit=4294967346"},
		{"99999999999999999999", "after=99999999999999999999"},
		{"-1", "offset=-1&limit=0"},
		{"\xc3\x28", "sort=%FF&order=%00"},
		{"x", "%00=1"},
	} {
		f.Add(seed[0], seed[1])
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(checkInput)
	r.GET("/things/:id", func(c *gin.Context) {
		params, ok := jobListParams(c)
		if !ok {
			return
		}
		if _, ok := pathID(c, "id"); !ok {
			return
		}
		if _, ok := afterID(c, c.Query("after")); !ok {
			return
		}
		if params.PageOffset < 0 || params.PageSize < 1 || params.PageSize > 100 {
			c.AbortWithStatus(http.StatusInternalServerError) // a number wrapped
			return
		}
		c.Status(http.StatusOK)
	})
	f.Fuzz(func(t *testing.T, segment, query string) {
		target := "/things/" + url.PathEscape(segment)
		if q, err := url.ParseQuery(query); err == nil {
			target += "?" + q.Encode()
		} else {
			target += "?" + url.QueryEscape(query)
		}
		req, err := http.NewRequest(http.MethodGet, "http://api"+target, nil)
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body.Bytes())
		}
		if rec.Code == http.StatusOK && bytes.Contains([]byte(req.URL.Query().Get("offset")), []byte("99999999999")) {
			t.Fatalf("%s: a huge offset was admitted", target)
		}
	})
}
