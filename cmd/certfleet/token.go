package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/certfleet/certfleet/auth"
	"github.com/certfleet/certfleet/config"
	"github.com/certfleet/certfleet/db"
	"github.com/certfleet/certfleet/db/store"
)

var tokenSettings = []config.Setting{
	{Flag: "name", Env: "CERTFLEET_TOKEN_NAME", Default: "cli", Usage: "a name for the token, shown in the audit log"},
	{Flag: "role", Env: "CERTFLEET_TOKEN_ROLE", Default: "auditor", Usage: "admin, operator or auditor"},
}

// runToken is `certfleet token create`: it prints a new API token once.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "Usage: certfleet token create -name NAME -role admin|operator|auditor")
		return errUsage
	}
	cfg, values, err := config.LoadWith("token create", tokenSettings, args[1:], os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	role, err := auth.ParseRole(values["role"])
	if err != nil {
		return err
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	token, err := auth.Create(ctx, store.New(pool), values["name"], role, "cli:"+os.Getenv("USER"))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}
