package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
)

func devicesList(ctx context.Context, c *cli, args []string) error {
	var deviceType, mode, driver string
	var limit int
	if _, err := flags("devices list", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&deviceType, "type", "", "device type")
		fs.StringVar(&mode, "mode", "", "NEW, FACTORY, OPERATIONAL or DISABLED")
		fs.StringVar(&driver, "driver", "", "device driver")
		fs.IntVar(&limit, "limit", 0, "at most this many (0: all)")
	}); err != nil {
		return err
	}
	query := url.Values{}
	setIf(query, "device_type", deviceType)
	setIf(query, "mode", mode)
	setIf(query, "driver", driver)
	items, err := c.api.List(ctx, "/api/v1/devices", query, limit)
	if err != nil {
		return err
	}
	return c.print(items, column{"ID", "id"}, column{"NAME", "name"}, column{"TYPE", "device_type"}, column{"MODE", "mode"},
		column{"DRIVER", "driver"}, column{"CREDENTIAL", "credential"}, column{"ADDRESS", "address"})
}

// devicesImport uploads a device CSV; the API reports each bad row.
func devicesImport(ctx context.Context, c *cli, args []string) error {
	files, err := flags("devices import", args, 1, nil)
	if err != nil {
		return err
	}
	var in io.Reader = c.stdin
	if files[0] != "-" {
		f, err := os.Open(files[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	data, err := c.api.Raw(ctx, http.MethodPost, "/api/v1/devices/import", in, "text/csv")
	if err != nil {
		return err
	}
	var result struct {
		Created int              `json:"created"`
		Errors  []map[string]any `json:"errors"`
	}
	if err := jsonInto(data, &result); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(result)
	}
	fmt.Fprintf(c.out, "%d devices created, %d rows refused\n", result.Created, len(result.Errors))
	if len(result.Errors) == 0 {
		return nil
	}
	return c.print(result.Errors, column{"LINE", "line"}, column{"ID", "id"}, column{"FIELD", "field"}, column{"PROBLEM", "message"})
}

func devicesAssign(ctx context.Context, c *cli, args []string) error {
	var profile int64
	devices, err := flags("devices assign", args, -1, func(fs *flag.FlagSet) { fs.Int64Var(&profile, "profile", 0, "profile ID") })
	if err != nil {
		return err
	}
	if profile <= 0 || len(devices) == 0 {
		return errUsage
	}
	var result map[string]any
	if err := c.api.JSON(ctx, http.MethodPost, "/api/v1/profile-assignments", map[string]any{"profile_id": profile, "device_ids": devices}, &result); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(result)
	}
	fmt.Fprintf(c.out, "profile %d assigned to %d devices\n", profile, len(devices))
	return nil
}

// devicesInventory reads what a device holds through its driver; the API
// records the certificates the inventory did not know.
func devicesInventory(ctx context.Context, c *cli, args []string) error {
	ids, err := flags("devices inventory", args, 1, nil)
	if err != nil {
		return err
	}
	var result struct {
		Certificates []map[string]any `json:"certificates"`
	}
	if err := c.api.JSON(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(ids[0])+"/inventory", nil, &result); err != nil {
		return err
	}
	return c.print(result.Certificates, column{"CERT TYPE", "cert_type"}, column{"CERTIFICATE", "certificate_id"},
		column{"SUBJECT", "subject"}, column{"ISSUER", "issuer"}, column{"NOT AFTER", "not_after"}, column{"NEW", "new"}, column{"PROBLEM", "error"})
}

func setIf(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}

// idArg parses a command that takes one ID argument and flags.
func idArg(name string, args []string, define func(*flag.FlagSet)) (string, error) {
	ids, err := flags(name, args, 1, define)
	if err != nil {
		return "", err
	}
	return pathID(ids[0])
}

// pathID checks a numeric ID argument before it goes into a URL.
func pathID(s string) (string, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err != nil || n <= 0 {
		return "", fmt.Errorf("%q is not an ID (a positive whole number)", s)
	}
	return s, nil
}

func jsonInto(data []byte, into any) error {
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("the API's answer is not the JSON expected: %w", err)
	}
	return nil
}
