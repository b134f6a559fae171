package device

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// Resolve turns a device's credential reference into the credential. The
// database holds only references:
//
//	env:NAME          the value of environment variable NAME
//	file:PATH         the first line of the file at PATH
//	derived:env:NAME  a per-device credential derived from the master secret in
//	                  NAME: hex(HMAC-SHA256(secret, device ID))[:32], as a
//	                  factory that provisions thousands of devices does
func Resolve(ref, deviceID string, lookupEnv func(string) (string, bool)) (string, error) {
	kind, rest, _ := strings.Cut(ref, ":")
	switch kind {
	case "env":
		value, ok := lookupEnv(rest)
		if !ok || value == "" {
			return "", fmt.Errorf("credential of device %s: environment variable %s is not set", deviceID, rest)
		}
		return value, nil
	case "file":
		data, err := os.ReadFile(rest)
		if err != nil {
			return "", fmt.Errorf("credential of device %s: %w", deviceID, err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		return strings.TrimSpace(line), nil
	case "derived":
		master, err := Resolve(rest, deviceID, lookupEnv)
		if err != nil {
			return "", err
		}
		return DeriveCredential(master, deviceID), nil
	}
	return "", fmt.Errorf("credential of device %s: reference %q is not env:, file: or derived:", deviceID, ref)
}

// DeriveCredential is the per-device credential under a master secret.
func DeriveCredential(master, deviceID string) string {
	mac := hmac.New(sha256.New, []byte(master))
	mac.Write([]byte(deviceID))
	return hex.EncodeToString(mac.Sum(nil))[:32]
}
