package estwire

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
)

func TestBase64IsWrappedWithCRLF(t *testing.T) {
	der := bytes.Repeat([]byte{0xA5}, 200)
	text := string(EncodeBase64(der))
	if !strings.HasSuffix(text, "\r\n") {
		t.Fatalf("no final CRLF: %q", text)
	}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n") {
		if len(line) > lineLength || strings.ContainsAny(line, "\r\n") {
			t.Fatalf("bad line %q", line)
		}
	}
	for name, body := range map[string]string{
		"wrapped CRLF":    text,
		"wrapped LF":      strings.ReplaceAll(text, "\r\n", "\n"),
		"one line":        base64.StdEncoding.EncodeToString(der),
		"without padding": base64.RawStdEncoding.EncodeToString(der[:199]),
	} {
		got, err := DecodeBase64([]byte(body))
		want := der
		if name == "without padding" {
			want = der[:199]
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzBase64: every encoding decodes back, and no input makes decoding panic.
func FuzzBase64(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte("MII=\r\n"))
	f.Add(bytes.Repeat([]byte{1, 2, 3}, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		DecodeBase64(data) //nolint:errcheck // only that it returns
		if len(data) == 0 {
			return
		}
		got, err := DecodeBase64(EncodeBase64(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %x: %x, %v", data, got, err)
		}
	})
}

// FuzzServerKeyGenBody: whatever the key and certificate bytes, the
// multipart body parses back into the key part, then the certs-only part,
// each base64 with its transfer encoding named.
func FuzzServerKeyGenBody(f *testing.F) {
	f.Add([]byte("key"), []byte("certs"))
	f.Add([]byte("--boundary\r\n"), bytes.Repeat([]byte{0xff}, 300))
	f.Fuzz(func(t *testing.T, key, certs []byte) {
		if len(key) == 0 || len(certs) == 0 {
			return
		}
		body, contentType, err := ServerKeyGenBody(key, certs)
		if err != nil {
			t.Fatal(err)
		}
		media, params, err := mime.ParseMediaType(contentType)
		if err != nil || media != "multipart/mixed" {
			t.Fatalf("content type %q: %v", contentType, err)
		}
		r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for i, want := range []struct {
			contentType string
			data        []byte
		}{{TypePKCS8, key}, {TypeCertsOnly, certs}} {
			part, err := r.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if part.Header.Get("Content-Type") != want.contentType || part.Header.Get("Content-Transfer-Encoding") != "base64" {
				t.Fatalf("part %d headers %v", i, part.Header)
			}
			text, err := io.ReadAll(part)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeBase64(text)
			if err != nil || !bytes.Equal(got, want.data) {
				t.Fatalf("part %d does not decode back: %v", i, err)
			}
		}
		if _, err := r.NextPart(); err != io.EOF {
			t.Fatalf("more than two parts: %v", err)
		}
	})
}
