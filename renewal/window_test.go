package renewal

import (
	"testing"
	"time"
)

func TestScheduleHonoursWindowsInTheirTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	nights := []Window{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "01:00", End: "05:00"}}
	weekend := []Window{{Days: []string{"sat"}, Start: "22:00", End: "24:00"}}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, ny)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name    string
		windows []Window
		t       time.Time
		delay   bool
		ok      bool
		startAt time.Time
	}{
		{"no windows: any time", nil, at("2026-01-14 12:00"), false, true, time.Time{}},
		{"inside (Wednesday 02:00 New York)", nights, at("2026-01-14 02:00"), false, true, time.Time{}},
		{"the window's end is not in it", nights, at("2026-01-14 05:00"), false, false, time.Time{}},
		{"outside, skip", nights, at("2026-01-14 12:00"), false, false, time.Time{}},
		{"outside, delay to the next night", nights, at("2026-01-14 12:00"), true, true, at("2026-01-15 01:00")},
		{"Friday afternoon waits for Monday", nights, at("2026-01-16 12:00"), true, true, at("2026-01-19 01:00")},
		{"inside in New York, outside in UTC", nights, time.Date(2026, 1, 14, 7, 30, 0, 0, time.UTC), false, true, time.Time{}},
		{"the DST night keeps its wall-clock hours", nights, at("2026-03-06 12:00"), true, true, at("2026-03-09 01:00")},
		{"a window to midnight", weekend, at("2026-01-17 23:59"), false, true, time.Time{}},
		{"a week ahead", weekend, at("2026-01-17 12:00").AddDate(0, 0, 1), true, true, at("2026-01-24 22:00")},
	}
	for _, c := range cases {
		startAt, ok := Schedule(c.windows, ny, c.t, c.delay)
		if ok != c.ok || !startAt.Equal(c.startAt) {
			t.Errorf("%s: got (%v, %v), want (%v, %v)", c.name, startAt, ok, c.startAt, c.ok)
		}
	}
	if got := at("2026-03-09 01:00").UTC().Hour(); got != 5 {
		t.Errorf("01:00 EDT is %d:00 UTC, want 5", got)
	}
}

func TestNormalizeRefusesBadPolicies(t *testing.T) {
	good := func() Policy {
		return Policy{Name: "cams", CertType: "tls", RenewBeforeDays: 30, Cron: "0 2 * * *"}
	}
	for name, mutate := range map[string]func(*Policy){
		"both due rules":      func(p *Policy) { p.RenewAtLifetime = 0.5 },
		"no due rule":         func(p *Policy) { p.RenewBeforeDays = 0 },
		"lifetime of 1":       func(p *Policy) { p.RenewBeforeDays, p.RenewAtLifetime = 0, 1 },
		"cron and every":      func(p *Policy) { p.Every = "1h" },
		"every too short":     func(p *Policy) { p.Cron, p.Every = "", "10s" },
		"unknown time zone":   func(p *Policy) { p.TimeZone = "Mars/Olympus" },
		"bad window day":      func(p *Policy) { p.Windows = []Window{{Days: []string{"funday"}, Start: "01:00", End: "02:00"}} },
		"window ends early":   func(p *Policy) { p.Windows = []Window{{Days: []string{"mon"}, Start: "05:00", End: "01:00"}} },
		"window past 24:00":   func(p *Policy) { p.Windows = []Window{{Days: []string{"mon"}, Start: "01:00", End: "24:30"}} },
		"outside_window typo": func(p *Policy) { p.OutsideWindow = "later" },
		"bad cron":            func(p *Policy) { p.Cron = "every night" },
		"bad jitter":          func(p *Policy) { p.Jitter = "a bit" },
		"huge jobs":           func(p *Policy) { p.MaxDevicesPerJob = 1_000_000 },
	} {
		p := good()
		mutate(&p)
		if err := p.Normalize(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	p := good()
	if err := p.Normalize(); err != nil || p.TimeZone != "UTC" || p.OutsideWindow != "skip" || p.MaxDevicesPerJob != DefaultMaxDevicesPerJob {
		t.Fatalf("defaults: %+v, %v", p, err)
	}
}
