// Package drivers is where certfleet meets the outside world: drivers/ca
// speaks to certificate authorities and drivers/device to devices. Every
// driver error is classified here as transient (retry later) or permanent
// (retrying cannot help), so that workflows know whether to retry.
package drivers

import (
	"errors"
	"fmt"
)

// Error is a driver failure classified for retries.
type Error struct {
	// Permanent means the other side refused, and retrying the same call cannot help.
	Permanent bool
	Err       error
}

func (e *Error) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("%s: %v", kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Transient marks err as worth retrying later: unreachable, timeout, busy.
func Transient(err error) error { return &Error{Err: err} }

// Permanent marks err as a refusal that retrying cannot change.
func Permanent(err error) error { return &Error{Permanent: true, Err: err} }

// IsPermanent reports whether err, or an error it wraps, is permanent.
// Unclassified errors count as transient: retrying is the safe default for a
// failure nobody has explained.
func IsPermanent(err error) bool {
	var classified *Error
	return errors.As(err, &classified) && classified.Permanent
}
