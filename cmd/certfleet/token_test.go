package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestTokenCommand: `certfleet token create -expires` makes a token that
// expires, `list` shows it without its secret, `revoke` ends it, and both
// changes are in the audit log under the person at the terminal.
func TestTokenCommand(t *testing.T) {
	ctx := context.Background()
	pool, dsn := testenv.Database(t)
	t.Setenv("USER", "alice")
	token := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := run(ctx, append(append([]string{"token"}, args...), "-database-url", dsn), &out, &out)
		return code, out.String()
	}

	code, out := token("create", "-name", "ci", "-role", "operator", "-expires", "90d")
	require.Equal(t, 0, code, out)
	secret := strings.TrimSpace(out)
	p, err := auth.Authenticate(ctx, store.New(pool), secret)
	require.NoError(t, err)
	assert.Equal(t, auth.Operator, p.Role)
	id := strconv.FormatInt(p.TokenID, 10)

	code, out = token("list")
	require.Equal(t, 0, code, out)
	assert.Regexp(t, `(?m)^`+id+`\s+ci\s+operator\s+active\s+cli:alice\s+\S+\s+`+time.Now().AddDate(0, 0, 90).Format("2006-01-02"), out)
	assert.NotContains(t, out, secret)

	code, out = token("revoke", id)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "token "+id+" (ci) revoked")
	_, err = auth.Authenticate(ctx, store.New(pool), secret)
	assert.ErrorIs(t, err, auth.ErrUnknownToken)
	code, out = token("list")
	require.Equal(t, 0, code, out)
	assert.Regexp(t, `(?m)^`+id+`\s+ci\s+operator\s+revoked\s`, out)

	code, out = token("revoke", "999999")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "no API token 999999")

	rows, err := pool.Query(ctx, "SELECT actor || ' ' || action FROM audit_log WHERE object_type = 'api_token' ORDER BY id")
	require.NoError(t, err)
	var audit []string
	for rows.Next() {
		var row string
		require.NoError(t, rows.Scan(&row))
		audit = append(audit, row)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"cli:alice api_token.create", "cli:alice api_token.revoke"}, audit)
}

// TestTokenCommandLine: mistakes are caught before any database is reached.
func TestTokenCommandLine(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		output string
	}{
		{[]string{"token"}, 2, "certfleet token list"},
		{[]string{"token", "rename"}, 2, "certfleet token revoke ID"},
		{[]string{"token", "-name", "x"}, 2, "certfleet token create"},
		{[]string{"token", "revoke", "abc"}, 1, `token ID "abc" is not a number`},
		{[]string{"token", "create", "-expires", "soon"}, 1, `expires "soon"`},
		{[]string{"token", "create", "-expires", "2001-01-01T00:00:00Z"}, 1, "the time has passed"},
		{[]string{"token", "create", "-role", "root"}, 1, `role "root"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			// An unreachable database: these must fail before reaching one.
			code := run(context.Background(), append(c.args, "-database-url=postgres://nobody@127.0.0.1:1/none"), &out, &out)
			assert.Equal(t, c.code, code, out.String())
			assert.Contains(t, out.String(), c.output)
		})
	}
}
