package onvifwire

import (
	"encoding/xml"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSystemDateAndTimeRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 2, 17, 4, 5, 0, time.UTC)
	msg, err := Marshal(nil, &GetSystemDateAndTimeResponse{SystemDateAndTime: SystemDateTime{
		DateTimeType: "NTP", TimeZone: &TimeZone{TZ: "CET-1CEST,M3.5.0,M10.5.0/3"}, UTCDateTime: NewDateTime(at),
	}})
	require.NoError(t, err)
	// The schema's element names and namespaces: tds for the response and
	// its SystemDateAndTime, tt inside.
	for _, want := range []string{`GetSystemDateAndTimeResponse xmlns="` + NSTds, `SystemDateAndTime xmlns="` + NSTds,
		`UTCDateTime xmlns="` + NSTt, `<Hour xmlns="` + NSTt + `">17</Hour>`, `<Year xmlns="` + NSTt + `">2026</Year>`} {
		assert.Contains(t, string(msg), want)
	}
	var back GetSystemDateAndTimeResponse
	_, err = Unmarshal(msg, func(xml.Name) (any, error) { return &back, nil })
	require.NoError(t, err)
	got, err := back.SystemDateAndTime.UTCDateTime.UTC()
	require.NoError(t, err)
	assert.Equal(t, at, got)
}

func TestDateTimeRefusesOutOfRange(t *testing.T) {
	for _, d := range []*DateTime{
		nil,
		{Time: Time{Hour: 24}, Date: Date{Year: 2026, Month: 1, Day: 1}},
		{Time: Time{Minute: 60}, Date: Date{Year: 2026, Month: 1, Day: 1}},
		{Date: Date{Year: 2026, Month: 2, Day: 30}},
		{Date: Date{Year: 2026, Month: 13, Day: 1}},
		{Date: Date{Year: 0, Month: 1, Day: 1}},
	} {
		_, err := d.UTC()
		assert.Error(t, err, "%+v", d)
	}
	_, err := NewDateTime(time.Date(2028, 2, 29, 23, 59, 59, 0, time.FixedZone("x", 3600))).UTC()
	assert.NoError(t, err)
	assert.Equal(t, Date{Year: 2028, Month: 2, Day: 28}, NewDateTime(time.Date(2028, 2, 29, 0, 30, 0, 0, time.FixedZone("x", 3600))).Date, "in UTC")
}
