package renewal

import (
	"fmt"
	"slices"
	"time"

	"github.com/certfleet/certfleet/errkind"
)

// Window is a maintenance window: days of the week and a time of day from
// Start to End ("HH:MM", End up to "24:00"), in the policy's time zone.
type Window struct {
	Days  []string `json:"days"`
	Start string   `json:"start"`
	End   string   `json:"end"`
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// check refuses a window that cannot work, naming the part of field, the
// window's place in the policy ("windows[0]"), at fault.
func (w Window) check(field string) error {
	if len(w.Days) == 0 {
		return errkind.Invalid(field+".days", "at least one of %v", weekdays)
	}
	for _, d := range w.Days {
		if !slices.Contains(weekdays, d) {
			return errkind.Invalid(field+".days", "%q is not one of %v", d, weekdays)
		}
	}
	start, err := minuteOfDay(w.Start)
	if err != nil {
		return errkind.Invalid(field+".start", "%v", err)
	}
	end, err := minuteOfDay(w.End)
	if err != nil {
		return errkind.Invalid(field+".end", "%v", err)
	}
	if start >= end {
		return errkind.Invalid(field+".end", "after start (end may be 24:00)")
	}
	return nil
}

// minuteOfDay reads "HH:MM" as minutes after midnight, 0 to 1440.
func minuteOfDay(s string) (int, error) {
	var h, m int
	if _, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || len(s) != 5 || h < 0 || m < 0 || m > 59 || h*60+m > 24*60 {
		return 0, fmt.Errorf("want a time of day as HH:MM such as 02:30, not %q", s)
	}
	return h*60 + m, nil
}

// opensAt returns when w opens on the calendar day of day (in day's
// location), and when it closes, if w includes that weekday.
func (w Window) opensAt(day time.Time) (opens, closes time.Time, ok bool) {
	if !slices.Contains(w.Days, weekdays[day.Weekday()]) {
		return time.Time{}, time.Time{}, false
	}
	start, _ := minuteOfDay(w.Start)
	end, _ := minuteOfDay(w.End)
	// Wall-clock times, so that on a DST change the window keeps its clock hours.
	at := func(minutes int) time.Time {
		return time.Date(day.Year(), day.Month(), day.Day(), minutes/60, minutes%60, 0, 0, day.Location())
	}
	return at(start), at(end), true
}

// Schedule decides, for a sweep at t, when its jobs may start: at t (a zero
// time) inside a window or when there are none; otherwise at the next
// window's opening when delay is set, else not at all (ok false).
func Schedule(windows []Window, loc *time.Location, t time.Time, delay bool) (startAt time.Time, ok bool) {
	if len(windows) == 0 {
		return time.Time{}, true
	}
	local := t.In(loc)
	var next time.Time
	// Eight days: every weekday, and today's windows again a week on.
	for d := -1; d <= 7; d++ {
		day := local.AddDate(0, 0, d)
		for _, w := range windows {
			opens, closes, ok := w.opensAt(day)
			if !ok {
				continue
			}
			if !local.Before(opens) && local.Before(closes) {
				return time.Time{}, true
			}
			if opens.After(local) && (next.IsZero() || opens.Before(next)) {
				next = opens
			}
		}
	}
	if !delay {
		return time.Time{}, false
	}
	return next, true
}
