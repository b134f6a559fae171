package api

import (
	"context"
	"encoding/json"
)

// Drivers is what the API knows of drivers, answered by the driver registry,
// so that the API names no driver and a new one needs no change here.
type Drivers interface {
	// CADrivers lists the CA drivers; the first is the default.
	CADrivers() []string
	// DeviceDrivers lists the device drivers; the first is the default.
	DeviceDrivers() []string
	// CheckCASettings refuses a CA driver's settings that cannot work, with
	// an errkind.Invalid naming the field.
	CheckCASettings(ctx context.Context, driver string, settings json.RawMessage) error
	// CheckDevice refuses a device address or driver settings its driver
	// cannot use, with an errkind.Invalid naming the field.
	CheckDevice(driver, address string, settings json.RawMessage) error
}
