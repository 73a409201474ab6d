package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/packet"
	"koffer/sync/townhall"
)

// TestFleetShowsKitQueue: a kit's real uplink reports its outbox with the audit exchange and
// `townhall serve` keeps it for the fleet view: a delivered case no longer counts, one the town
// hall refused waits parked on the kit.
func TestFleetShowsKitQueue(t *testing.T) {
	onBackends(t, func(t *testing.T, f *factory) {
		f.ErrOut = &lockedWriter{w: io.Discard}
		url, _ := replica(t, f, nil)
		kit := enrollKit(t, f, "kit-1", url)
		form := []packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"wohnsitzanmeldung"}`)}}
		good := kit.seal("wohnsitzanmeldung", "anna", form)
		_, other, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		forged := kit.sealSigned(other, time.Now, "wohnsitzanmeldung", "anna", form)
		kit.waitFor("delivery and refusal", func() bool { return kit.item(good).delivered != nil && kit.item(forged).parked != "" })

		th, err := f.open(t.Context())
		require.NoError(t, err)
		defer th.Close()
		fleetKit := func() townhall.KitStatus {
			fleet, err := th.Fleet(t.Context())
			require.NoError(t, err)
			require.Len(t, fleet, 1)
			return fleet[0]
		}
		kit.waitFor("queue reported", func() bool { k := fleetKit(); return k.QueueDepth == 1 && k.Parked == 1 })
		k := fleetKit()
		assert.WithinDuration(t, time.Now(), k.QueueReportedAt, time.Minute)
		assert.WithinDuration(t, kit.item(forged).CreatedAt, k.OldestWaiting, 5*time.Second, "the parked case is the oldest waiting")
		assert.Equal(t, 1, k.Received)
	})
}
