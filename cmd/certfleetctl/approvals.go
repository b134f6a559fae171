package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

func approvalsList(ctx context.Context, c *cli, args []string) error {
	var status string
	if _, err := flags("approvals list", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&status, "status", "pending", "pending, issued, rejected or all")
	}); err != nil {
		return err
	}
	items, err := c.api.List(ctx, "/api/v1/ca-requests", url.Values{"status": {status}}, 0)
	if err != nil {
		return err
	}
	return c.print(items, column{"ID", "id"}, column{"DEVICE", "device_id"}, column{"PROFILE", "profile_id"},
		column{"STATUS", "status"}, column{"KEY", "idempotency_key"}, column{"CREATED", "created_at"})
}

// approvalsDecide approves a pending CA request, or rejects it with a reason.
func approvalsDecide(approve bool) command {
	verb := map[bool]string{true: "approve", false: "reject"}[approve]
	return func(ctx context.Context, c *cli, args []string) error {
		var reason string
		id, err := idArg("approvals "+verb, args, func(fs *flag.FlagSet) { fs.StringVar(&reason, "reason", "", "why (reject)") })
		if err != nil {
			return err
		}
		if !approve && strings.TrimSpace(reason) == "" {
			return fmt.Errorf("approvals reject: -reason is required")
		}
		body := map[string]any{}
		if !approve {
			body["reason"] = reason
		}
		var result map[string]any
		if err := c.api.JSON(ctx, http.MethodPost, "/api/v1/ca-requests/"+id+"/"+verb, body, &result); err != nil {
			return err
		}
		if c.json {
			return c.printJSON(result)
		}
		fmt.Fprintf(c.out, "CA request %s %sd\n", id, strings.TrimSuffix(verb, "e"))
		return nil
	}
}
