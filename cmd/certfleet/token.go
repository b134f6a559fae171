package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/db/store"
)

var tokenSettings = []config.Setting{
	{Flag: "name", Env: "CERTFLEET_TOKEN_NAME", Default: "cli", Usage: "a name for the token, shown in the audit log (create)"},
	{Flag: "role", Env: "CERTFLEET_TOKEN_ROLE", Default: "auditor", Usage: "admin, operator or auditor (create)"},
	{Flag: "expires", Env: "CERTFLEET_TOKEN_EXPIRES", Usage: "when the token expires: days (90d), a duration (2160h) or an RFC 3339 time; empty: never (create)"},
}

const tokenUsage = `Usage:
  certfleet token create -name NAME -role admin|operator|auditor [-expires 90d|2160h|2030-01-31T00:00:00Z]
  certfleet token list
  certfleet token revoke ID
`

// runToken is `certfleet token`: it makes API tokens (printed once), lists
// them and revokes them, straight in the database, so it works when no admin
// token is left. Every change writes an audit row, as the API's do.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return errUsage
	}
	verb, rest := args[0], args[1:]
	var target string
	switch {
	case verb == "revoke" && len(rest) > 0:
		target, rest = rest[0], rest[1:]
	case verb != "create" && verb != "list":
		fmt.Fprint(stderr, tokenUsage)
		return errUsage
	}
	cfg, values, err := config.LoadWith("token "+verb, tokenSettings, rest, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	// Check what was asked before connecting anywhere.
	var spec auth.NewToken
	var id int64
	switch verb {
	case "create":
		if spec, err = tokenSpec(values, time.Now()); err != nil {
			return err
		}
	case "revoke":
		if id, err = strconv.ParseInt(target, 10, 64); err != nil {
			return fmt.Errorf("token ID %q is not a number", target)
		}
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	switch verb {
	case "create":
		return issueToken(ctx, pool, spec, stdout)
	case "revoke":
		return revokeTokenByID(ctx, pool, id, stdout)
	}
	return printTokens(ctx, pool, stdout)
}

// cliActor names the person at the terminal in audit rows and created_by.
func cliActor() string { return "cli:" + os.Getenv("USER") }

// tokenSpec reads a token to make from the command's settings.
func tokenSpec(values map[string]string, now time.Time) (auth.NewToken, error) {
	role, err := auth.ParseRole(values["role"])
	if err != nil {
		return auth.NewToken{}, err
	}
	expires, err := auth.ParseExpiry(values["expires"], now)
	if err != nil {
		return auth.NewToken{}, err
	}
	spec := auth.NewToken{Name: values["name"], Role: role, CreatedBy: cliActor(), ExpiresAt: expires}
	return spec, spec.Validate(now)
}

// issueToken prints the new token alone on stdout, so that scripts can
// capture it (`make run` does).
func issueToken(ctx context.Context, pool *pgxpool.Pool, spec auth.NewToken, stdout io.Writer) error {
	var token string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		var row auth.Token
		var err error
		if token, row, err = auth.Issue(ctx, q, spec); err != nil {
			return err
		}
		return auditToken(ctx, q, "api_token.create", row.ID, map[string]any{"name": spec.Name, "role": spec.Role, "expires_at": spec.ExpiresAt})
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}

func revokeTokenByID(ctx context.Context, pool *pgxpool.Pool, id int64, stdout io.Writer) error {
	var row auth.Token
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		var err error
		if row, err = auth.Revoke(ctx, q, id); err != nil {
			return err
		}
		return auditToken(ctx, q, "api_token.revoke", id, map[string]any{"name": row.Name})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("no API token %d", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %d (%s) revoked at %s\n", row.ID, row.Name, row.RevokedAt.Format(time.RFC3339))
	return nil
}

// auditToken records a token change made from the command line.
func auditToken(ctx context.Context, q *store.Queries, action string, id int64, details map[string]any) error {
	data, err := json.Marshal(details)
	if err != nil {
		return err
	}
	return q.RecordAudit(ctx, store.RecordAuditParams{
		Actor: cliActor(), Action: action, ObjectType: "api_token", ObjectIds: []string{strconv.FormatInt(id, 10)}, Details: data,
	})
}

// printTokens prints every token, never the token itself or its hash.
func printTokens(ctx context.Context, pool *pgxpool.Pool, stdout io.Writer) error {
	q := store.New(pool)
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tROLE\tSTATE\tCREATED BY\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
	now := time.Now()
	params := store.ListAPITokensParams{PageSize: 100}
	for {
		rows, err := q.ListAPITokens(ctx, params)
		if err != nil {
			return fmt.Errorf("list API tokens: %w", err)
		}
		for _, t := range rows {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, auth.State(t, now), t.CreatedBy,
				t.CreatedAt.Format(time.RFC3339), orDash(t.ExpiresAt), orDash(t.LastUsedAt), orDash(t.RevokedAt))
		}
		if len(rows) < int(params.PageSize) {
			return w.Flush()
		}
		params.AfterID.Int64, params.AfterID.Valid = rows[len(rows)-1].ID, true
	}
}

func orDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
