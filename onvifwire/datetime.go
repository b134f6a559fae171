package onvifwire

import (
	"encoding/xml"
	"fmt"
	"time"
)

// ---- Device management (tds): the camera's clock ----

// GetSystemDateAndTime asks the device for its clock. Devices answer it
// without authentication (ONVIF core specification, access classes), so
// that a client can build UsernameTokens from the device's own time.
type GetSystemDateAndTime struct {
	XMLName xml.Name `xml:"http://www.onvif.org/ver10/device/wsdl GetSystemDateAndTime"`
}

// GetSystemDateAndTimeResponse carries the device's tt:SystemDateTime.
type GetSystemDateAndTimeResponse struct {
	XMLName           xml.Name       `xml:"http://www.onvif.org/ver10/device/wsdl GetSystemDateAndTimeResponse"`
	SystemDateAndTime SystemDateTime `xml:"http://www.onvif.org/ver10/device/wsdl SystemDateAndTime"`
}

// SystemDateTime is tt:SystemDateTime, in the schema's order. Only
// UTCDateTime matters to certfleet; the rest is read and written for
// completeness.
type SystemDateTime struct {
	DateTimeType    string    `xml:"http://www.onvif.org/ver10/schema DateTimeType"` // "Manual" or "NTP"
	DaylightSavings bool      `xml:"http://www.onvif.org/ver10/schema DaylightSavings"`
	TimeZone        *TimeZone `xml:"http://www.onvif.org/ver10/schema TimeZone,omitempty"`
	UTCDateTime     *DateTime `xml:"http://www.onvif.org/ver10/schema UTCDateTime,omitempty"`
	LocalDateTime   *DateTime `xml:"http://www.onvif.org/ver10/schema LocalDateTime,omitempty"`
}

// TimeZone is tt:TimeZone: a POSIX TZ string.
type TimeZone struct {
	TZ string `xml:"http://www.onvif.org/ver10/schema TZ"`
}

// DateTime is tt:DateTime: a time of day and a date, without a zone.
type DateTime struct {
	Time Time `xml:"http://www.onvif.org/ver10/schema Time"`
	Date Date `xml:"http://www.onvif.org/ver10/schema Date"`
}

// Time is tt:Time.
type Time struct {
	Hour   int `xml:"http://www.onvif.org/ver10/schema Hour"`
	Minute int `xml:"http://www.onvif.org/ver10/schema Minute"`
	Second int `xml:"http://www.onvif.org/ver10/schema Second"`
}

// Date is tt:Date.
type Date struct {
	Year  int `xml:"http://www.onvif.org/ver10/schema Year"`
	Month int `xml:"http://www.onvif.org/ver10/schema Month"`
	Day   int `xml:"http://www.onvif.org/ver10/schema Day"`
}

// NewDateTime is t in UTC, to the second.
func NewDateTime(t time.Time) *DateTime {
	t = t.UTC()
	return &DateTime{
		Time: Time{Hour: t.Hour(), Minute: t.Minute(), Second: t.Second()},
		Date: Date{Year: t.Year(), Month: int(t.Month()), Day: t.Day()},
	}
}

// UTC reads d as a UTC time. Out-of-range fields are an error, not
// normalized into another day.
func (d *DateTime) UTC() (time.Time, error) {
	if d == nil {
		return time.Time{}, fmt.Errorf("no date and time")
	}
	t := time.Date(d.Date.Year, time.Month(d.Date.Month), d.Date.Day, d.Time.Hour, d.Time.Minute, d.Time.Second, 0, time.UTC)
	if d.Date.Year < 1970 || d.Date.Year > 9999 || t.Year() != d.Date.Year || int(t.Month()) != d.Date.Month || t.Day() != d.Date.Day ||
		t.Hour() != d.Time.Hour || t.Minute() != d.Time.Minute || t.Second() != d.Time.Second {
		return time.Time{}, fmt.Errorf("%04d-%02d-%02dT%02d:%02d:%02dZ is not a valid date and time",
			d.Date.Year, d.Date.Month, d.Date.Day, d.Time.Hour, d.Time.Minute, d.Time.Second)
	}
	return t, nil
}
