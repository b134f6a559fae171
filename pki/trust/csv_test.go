package trust_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/pki/trust"
)

func TestRevocationCSVRules(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	entries, err := trust.ParseRevocationCSV(strings.NewReader("1f,2099-01-01\n2e,2026-01-02T03:04:05Z\n"), now)
	require.NoError(t, err)
	assert.Equal(t, now, entries[0].RevokedAt, "a future date becomes now")
	assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), entries[1].RevokedAt)

	var big strings.Builder
	for i := range trust.MaxRevocationRows + 1 {
		fmt.Fprintf(&big, "%x\n", i+1)
	}
	_, err = trust.ParseRevocationCSV(strings.NewReader(big.String()), now)
	assert.ErrorContains(t, err, "more than 5000 rows")

	_, err = trust.ParseRevocationCSV(strings.NewReader("zz\n1f,yesterday\n1f,2020-01-01,extra\n\"unterminated\n"), now)
	require.ErrorIs(t, err, trust.ErrInvalid)

	_, err = trust.ParseRevocationCSV(strings.NewReader("xyz\n12,not-a-date\n"), now)
	require.ErrorIs(t, err, trust.ErrInvalid)
	assert.Contains(t, err.Error(), "line 1")
	assert.Contains(t, err.Error(), "line 2", "every bad row is reported at once")
}

var normalized = regexp.MustCompile(`^[0-9a-f]{1,40}$`)

func FuzzParseRevocationCSV(f *testing.F) {
	for _, seed := range []string{
		"serial,date\n0A:1B,2025-03-01\n0xff\n",
		"1f,2099-01-01\n",
		"\"a\"\"b\",x\n",
		"00000000000000000000000000000000000000001\n",
		",\n",
		"",
	} {
		f.Add(seed)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, data string) {
		entries, err := trust.ParseRevocationCSV(strings.NewReader(data), now)
		if err != nil {
			return
		}
		if len(entries) == 0 || len(entries) > trust.MaxRevocationRows {
			t.Fatalf("accepted %d entries", len(entries))
		}
		for _, e := range entries {
			if !normalized.MatchString(e.SerialHex) || e.RevokedAt.After(now) {
				t.Fatalf("accepted a bad entry %+v", e)
			}
		}
	})
}
