package enroll_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certfleet/certfleet/changefeed"
	"github.com/certfleet/certfleet/db/store"
	"github.com/certfleet/certfleet/drivers/ca/local"
	"github.com/certfleet/certfleet/drivers/registry"
	"github.com/certfleet/certfleet/enroll"
	"github.com/certfleet/certfleet/errkind"
	"github.com/certfleet/certfleet/internal/testenv"
)

// TestCachedLabelsFollowChanges: with labels cached, a change to a label or
// its profile, made anywhere, holds for the requests after it is heard.
func TestCachedLabelsFollowChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, _ := testenv.Database(t)
	builtin, _ := testenv.BuiltinCA(t, pool, local.Options{})
	profileID := testenv.CameraProfile(t, pool, "cameras", false)
	testenv.Label(t, pool, store.CreateESTLabelParams{Label: "cams", ProfileID: profileID, AllowFactory: true})
	feed := changefeed.New(pool, slog.New(slog.DiscardHandler))
	go feed.Run(ctx)
	require.Eventually(t, func() bool { _, ok := feed.Generation(); return ok }, 10*time.Second, 5*time.Millisecond)
	service := enroll.Service{Pool: pool, CAs: registry.New(pool, local.SetOf(builtin), nil, time.Second), Changes: feed}
	service.Init()
	// refused waits until the label is refused as want; a change is heard
	// a moment after its commit.
	refused := func(want errkind.Kind) {
		t.Helper()
		require.Eventually(t, func() bool {
			_, err := service.Label(ctx, "EST", "cams", "10.1.2.3")
			return errkind.KindOf(err) == want
		}, 10*time.Second, 5*time.Millisecond)
	}

	for range 2 { // the second from the cache
		l, err := service.Label(ctx, "EST", "cams", "10.1.2.3")
		require.NoError(t, err)
		require.NotNil(t, l.CA, "the CA is found on every request")
		require.Equal(t, 90*24*time.Hour, l.Policy.Validity)
	}
	q := store.New(pool)
	_, err := q.UpdateESTLabel(ctx, store.UpdateESTLabelParams{Label: "cams", ProfileID: profileID, AllowFactory: true, IdentityField: "CN",
		AllowedCidrs: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}, ScepChallenges: []string{}})
	require.NoError(t, err)
	refused(errkind.KindForbidden)
	_, err = q.DeleteESTLabel(ctx, "cams")
	require.NoError(t, err)
	refused(errkind.KindNotFound)
}
