package onvif_test

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/httpdigest"
	"github.com/certfleet/certfleet/onvifwire"
)

const deviceURL = "/onvif/cam-00001/device_service"

// signedAt is a request envelope with a UsernameToken created at.
func (s *sim) signedAt(tb testing.TB, password string, at time.Time, body any) []byte {
	tb.Helper()
	user, _ := s.fleet.CameraAccount()
	sec, err := onvifwire.NewSecurity(user, password, at)
	require.NoError(tb, err)
	msg, err := onvifwire.Marshal(sec, body)
	require.NoError(tb, err)
	return msg
}

func (s *sim) cameraTime(t *testing.T) time.Time {
	t.Helper()
	rec := s.post(deviceURL, onvifwire.ContentType, mustMarshal(t, &onvifwire.GetSystemDateAndTime{}))
	require.Equal(t, http.StatusOK, rec.Code, "answered without authentication: %s", rec.Body.String())
	var resp onvifwire.GetSystemDateAndTimeResponse
	_, err := onvifwire.Unmarshal(rec.Body.Bytes(), func(xml.Name) (any, error) { return &resp, nil })
	require.NoError(t, err)
	at, err := resp.SystemDateAndTime.UTCDateTime.UTC()
	require.NoError(t, err)
	return at
}

func TestClockSkew(t *testing.T) {
	s := newSim()
	_, password := s.fleet.CameraAccount()
	soap := onvifwire.ContentTypeFor("x")
	assert.WithinDuration(t, time.Now(), s.cameraTime(t), 2*time.Second)

	s.cams.SetClockSkew("cam-00001", 2*time.Hour)
	camNow := s.cameraTime(t)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), camNow, 2*time.Second)

	rec := s.post(securityURL, soap, s.signedAt(t, password, time.Now(), &onvifwire.GetAllKeys{}))
	assert.True(t, faultOf(t, rec).Has("NotAuthorized"), "a token of the local clock is two hours stale to the camera")
	rec = s.post(securityURL, soap, s.signedAt(t, password, camNow, &onvifwire.GetAllKeys{}))
	assert.Equal(t, http.StatusOK, rec.Code, "a token of the camera's clock: %s", rec.Body.String())
	rec = s.post(securityURL, soap, s.signedAt(t, password, camNow.Add(6*time.Minute), &onvifwire.GetAllKeys{}))
	assert.True(t, faultOf(t, rec).Has("NotAuthorized"), "more than 5 minutes off the camera's clock")

	// Another camera keeps the right time.
	rec = s.post("/onvif/cam-00002/advancedsecurity_service", soap, s.signedAt(t, password, time.Now(), &onvifwire.GetAllKeys{}))
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	s.cams.SetClockSkew("cam-00001", 0)
	rec = s.post(securityURL, soap, s.signedAt(t, password, time.Now(), &onvifwire.GetAllKeys{}))
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}

func TestRequireHTTPDigest(t *testing.T) {
	s := newSim()
	user, password := s.fleet.CameraAccount()
	soap := onvifwire.ContentTypeFor("x")
	s.cams.RequireHTTPDigest("cam-00001", true)

	post := func(auth string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, securityURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", soap)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		return rec
	}
	rec := post("", s.signed(t, &onvifwire.GetAllKeys{}))
	require.Equal(t, http.StatusUnauthorized, rec.Code, "a valid UsernameToken alone is not enough")
	assert.True(t, faultOf(t, rec).Has("NotAuthorized"))
	challenge, err := httpdigest.Choose(httpdigest.ChallengeValues(rec.Header()))
	require.NoError(t, err)
	assert.Equal(t, "ONVIF camera", challenge.Realm)

	auth, err := challenge.Authorize(http.MethodPost, securityURL, user, password, 1, httpdigest.NewCnonce())
	require.NoError(t, err)
	rec = post(auth, s.signed(t, &onvifwire.GetAllKeys{}))
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	auth, err = challenge.Authorize(http.MethodPost, securityURL, user, password, 2, httpdigest.NewCnonce())
	require.NoError(t, err)
	rec = post(auth, mustMarshal(t, &onvifwire.GetAllKeys{}))
	assert.True(t, faultOf(t, rec).Has("NotAuthorized"), "HTTP Digest does not replace the UsernameToken")
	assert.Equal(t, http.StatusBadRequest, rec.Code)

	auth, err = challenge.Authorize(http.MethodPost, securityURL, user, "wrong", 3, httpdigest.NewCnonce())
	require.NoError(t, err)
	rec = post(auth, s.signed(t, &onvifwire.GetAllKeys{}))
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "wrong Digest password")
	assert.NotEmpty(t, httpdigest.ChallengeValues(rec.Header()))

	// GetSystemDateAndTime needs no authentication at all.
	assert.WithinDuration(t, time.Now(), s.cameraTime(t), 2*time.Second)

	// Other cameras do not ask for it.
	rec = s.post("/onvif/cam-00002/advancedsecurity_service", soap, s.signed(t, &onvifwire.GetAllKeys{}))
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}

func TestCallCounts(t *testing.T) {
	s := newSim()
	soap := onvifwire.ContentTypeFor("x")
	s.post(deviceURL, soap, s.signed(t, &onvifwire.GetServices{}))
	s.post(securityURL, soap, s.signed(t, &onvifwire.GetAllKeys{}))
	s.post(securityURL, soap, mustMarshal(t, &onvifwire.GetAllKeys{}))
	assert.Equal(t, map[string]int{"GetServices": 1, "GetAllKeys": 2}, s.cams.Calls("cam-00001"))
	assert.Empty(t, s.cams.Calls("cam-00002"))
	s.cams.ResetCalls("cam-00001")
	assert.Empty(t, s.cams.Calls("cam-00001"))
}
