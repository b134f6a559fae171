package stations_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/stations"
)

// TestScope: a station names listed IDs and IDs its pattern matches whole,
// nothing else; a pattern cannot escape the anchors around it.
func TestScope(t *testing.T) {
	st := store.ProvisioningStation{Name: "line-1", DeviceIDPattern: `cam-[0-9]{4}`, DeviceIds: []string{"gw-7"}}
	for id, ok := range map[string]bool{"cam-0042": true, "gw-7": true, "cam-00421": false, "xcam-0042": false, "gw-8": false} {
		assert.Equal(t, ok, stations.CheckScope(st, id) == nil, id)
	}
	_, err := stations.CompilePattern(`abc)|(?:.*`)
	assert.Error(t, err, "a pattern that would escape its anchors")
	st.DeviceIDPattern = `abc)|(?:.*`
	assert.Error(t, stations.CheckScope(st, "anything"))
	name, ok := stations.NameOf("line-1@station")
	assert.True(t, ok)
	assert.Equal(t, "line-1", name)
	_, ok = stations.NameOf("cam-1")
	assert.False(t, ok, "a device ID names no station")
}
