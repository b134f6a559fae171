// Package drivers is where certfleet meets the outside world: drivers/ca speaks
// to certificate authorities (the built-in CA and external ones) and
// drivers/device to devices (the agent protocol, the simulated fleet). Each
// driver classifies its errors as transient or permanent, so that workflows
// know whether a retry can help.
package drivers
