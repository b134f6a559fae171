package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

var certColumns = []column{{"ID", "id"}, {"DEVICE", "device_id"}, {"TYPE", "cert_type"}, {"STATUS", "status"},
	{"NOT AFTER", "not_after"}, {"SERIAL", "serial"}, {"SUBJECT", "subject"}}

func certsList(ctx context.Context, c *cli, args []string) error {
	var device, status, before string
	var limit int
	if _, err := flags("certs list", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&device, "device", "", "device ID")
		fs.StringVar(&status, "status", "", "active, superseded or revoked")
		fs.StringVar(&before, "expiring-before", "", "RFC 3339 time")
		fs.IntVar(&limit, "limit", 0, "at most this many (0: all)")
	}); err != nil {
		return err
	}
	query := url.Values{}
	setIf(query, "device_id", device)
	setIf(query, "status", status)
	setIf(query, "expiring_before", before)
	items, err := c.api.List(ctx, "/api/v1/certificates", query, limit)
	if err != nil {
		return err
	}
	return c.print(items, certColumns...)
}

// certsExpiring lists the active certificates that expire within -days.
func certsExpiring(ctx context.Context, c *cli, args []string) error {
	var days int
	if _, err := flags("certs expiring", args, 0, func(fs *flag.FlagSet) { fs.IntVar(&days, "days", 30, "within this many days") }); err != nil {
		return err
	}
	if days < 1 || days > 3650 {
		return fmt.Errorf("-days: 1 to 3650, got %d", days)
	}
	query := url.Values{"status": {"active"}, "expiring_before": {time.Now().AddDate(0, 0, days).UTC().Format(time.RFC3339)}}
	items, err := c.api.List(ctx, "/api/v1/certificates", query, 0)
	if err != nil {
		return err
	}
	return c.print(items, certColumns...)
}

// certsPEM writes a certificate in PEM, for files and pipes.
func certsPEM(ctx context.Context, c *cli, args []string) error {
	id, err := idArg("certs pem", args, nil)
	if err != nil {
		return err
	}
	data, err := c.api.Raw(ctx, http.MethodGet, "/api/v1/certificates/"+id+"/pem", nil, "")
	if err != nil {
		return err
	}
	_, err = c.out.Write(data)
	return err
}

func certsRevoke(ctx context.Context, c *cli, args []string) error {
	var reason int
	id, err := idArg("certs revoke", args, func(fs *flag.FlagSet) {
		fs.IntVar(&reason, "reason", 4, "RFC 5280 reason: 1 keyCompromise, 4 superseded, 5 cessationOfOperation, …")
	})
	if err != nil {
		return err
	}
	var result map[string]any
	if err := c.api.JSON(ctx, http.MethodPost, "/api/v1/certificates/"+id+"/revoke", map[string]any{"reason": reason}, &result); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(result)
	}
	fmt.Fprintf(c.out, "certificate %s revoked (reason %d)\n", id, reason)
	return nil
}
