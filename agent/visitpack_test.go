package agent

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
	"koffer/sync/receipt"
	"koffer/sync/visit"
)

// TestUnsignedVisitPackRefused: a pack sealed to the kit's visit key but not signed by the
// town hall's receipt key for this kit is refused with a clear error, whether it arrives
// during a login or waits for one, and nothing of it is stored.
func TestUnsignedVisitPackRefused(t *testing.T) {
	a, _, _ := newUI(t)
	raw, err := os.ReadFile("../testdata/visits/2026-11-24.json")
	require.NoError(t, err)
	raw = bytes.Replace(raw, []byte(`"date": "2026-11-24"`), []byte(`"date": "`+a.now().Format(time.DateOnly)+`"`), 1)
	rs, err := a.VisitRecipient()
	require.NoError(t, err)
	rcpt, err := age.ParseX25519Recipient(rs)
	require.NoError(t, err)

	var unsigned bytes.Buffer
	w, err := age.Encrypt(&unsigned, rcpt)
	require.NoError(t, err)
	_, err = w.Write(raw)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	strangerCA, err := enroll.NewCA("not our town hall", a.now())
	require.NoError(t, err)
	stranger, err := receipt.NewSigner(strangerCA.Cert, strangerCA.Key, a.now())
	require.NoError(t, err)
	foreign, _, err := visit.Seal(raw, a.kit.Bundle.KitID, stranger, rcpt)
	require.NoError(t, err)

	tests := []struct {
		name   string
		sealed []byte
	}{
		{name: "unsigned", sealed: unsigned.Bytes()},
		{name: "signed for another kit", sealed: signAndSeal(t, a, "kit-other", raw)},
		{name: "signed by another CA", sealed: foreign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := a.StoreVisitPack(t.Context(), "pack-"+strings.ReplaceAll(tt.name, " ", "-"), tt.sealed)
			assert.ErrorIs(t, err, visit.ErrUnsigned)
			assert.ErrorContains(t, err, "not signed by the town hall")
			assert.False(t, stored)
		})
	}
	packs, err := a.Store().VisitPacks(t.Context())
	require.NoError(t, err)
	assert.Empty(t, packs, "nothing stored")

	// Waiting for a login changes nothing: refused then.
	a.Logout()
	stored, err := a.StoreVisitPack(t.Context(), "pack-waiting", unsigned.Bytes())
	require.NoError(t, err)
	assert.False(t, stored)
	require.NoError(t, a.Login(t.Context(), "mmeier", []byte("richtige Passphrase")))
	packs, err = a.Store().VisitPacks(t.Context())
	require.NoError(t, err)
	assert.Empty(t, packs, "refused at the login too")

	// The same pack signed by the town hall for this kit is stored.
	stored, err = a.StoreVisitPack(t.Context(), "pack-good", signAndSeal(t, a, a.kit.Bundle.KitID, raw))
	require.NoError(t, err)
	assert.True(t, stored)
}

// TestVisitPacksPurgedAfterTheDay: the janitor's PurgeVisits removes packs once their day is
// over, and keeps today's.
func TestVisitPacksPurgedAfterTheDay(t *testing.T) {
	a, _, _ := newUI(t)
	_, err := a.StoreVisitPack(t.Context(), "pack-1", sealTodaysPack(t, a))
	require.NoError(t, err)
	n, err := a.PurgeVisits(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "today's pack stays")

	tomorrow := a.now().AddDate(0, 0, 1)
	a.now = func() time.Time { return tomorrow }
	n, err = a.PurgeVisits(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	packs, err := a.Store().VisitPacks(t.Context())
	require.NoError(t, err)
	assert.Empty(t, packs)
}
