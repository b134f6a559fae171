package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/certfleet/certfleet/apiclient"
)

// scepChallenge makes a one-time SCEP challenge password, to hand to a
// device or an MDM profile. It is printed once: the API keeps only its hash.
func scepChallenge(ctx context.Context, c *cli, args []string) error {
	var req apiclient.SCEPChallengeRequest
	if _, err := flags("scep challenge", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&req.DeviceID, "device", "", "only this device may use it")
		fs.StringVar(&req.Label, "label", "", "only on this SCEP label")
		fs.StringVar(&req.Lifetime, "lifetime", "1h", "how long it is valid, 1m to 168h")
	}); err != nil {
		return err
	}
	challenge, err := c.api.CreateSCEPChallenge(ctx, req)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(challenge)
	}
	fmt.Fprintf(c.out, "challenge %s (expires %s)\n", challenge.Challenge, challenge.ExpiresAt.Local().Format(time.RFC3339))
	return nil
}
