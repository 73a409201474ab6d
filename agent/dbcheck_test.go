package agent

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/casework"
	"koffer/agent/keys"
	"koffer/agent/localapi"
	"koffer/agent/web"
	"koffer/store"
	"koffer/store/storetest"
	"koffer/sync/enroll"
)

// TestCorruptDatabaseNoticedAtStart: a database that opens but fails its quick check is
// noticed when the agent starts: status says so, and no new case is taken.
func TestCorruptDatabaseNoticedAtStart(t *testing.T) {
	dir := t.TempDir()
	b, id, err := enroll.NewTraining("kit-test")
	require.NoError(t, err)
	require.NoError(t, keys.SaveKit(dir, &keys.Kit{Bundle: b, Training: true, TownHall: id.String()}))
	storetest.Damage(t, dir, nil)

	a, err := New(context.Background(), Options{DataDir: dir, Training: true})
	require.NoError(t, err, "the agent still starts: sealed packets can still go out")
	t.Cleanup(func() { a.Close() })

	status, err := a.Status(t.Context())
	require.NoError(t, err)
	assert.Contains(t, status.DatabaseDamaged, "quick check")

	_, err = a.Submit(t.Context(), request(t, "wohnsitzanmeldung"))
	var le *localapi.Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "database-damaged", le.Code)
}

func TestHealthyDatabasePassesAtStart(t *testing.T) {
	a := newTestAgent(t, Options{})
	status, err := a.Status(t.Context())
	require.NoError(t, err)
	assert.Empty(t, status.DatabaseDamaged)
	_, err = a.Submit(t.Context(), request(t, "wohnsitzanmeldung"))
	assert.NoError(t, err)
}

// TestDamagedDatabaseShownInUI: while the database is damaged the start page tells the
// caseworker in plain German what to do, and starting a case is refused with the same words
// instead of a generic error; no draft is made. A healthy kit shows nothing of it.
func TestDamagedDatabaseShownInUI(t *testing.T) {
	_, _, healthy := newUI(t)
	r := healthy.do(http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, r.body, casework.DamagedHint)

	dir := t.TempDir()
	b, id, err := enroll.NewTraining("kit-test")
	require.NoError(t, err)
	require.NoError(t, keys.SaveKit(dir, &keys.Kit{Bundle: b, Training: true, TownHall: id.String()}))
	storetest.Damage(t, dir, func(st *store.Store) {
		dk, err := keys.NewDataKey()
		require.NoError(t, err)
		w, err := keys.Wrap(dk, []byte("richtige Passphrase"), keys.Params{Time: 1, MemKiB: 1024, Threads: 1})
		require.NoError(t, err)
		_, err = st.AddCaseworker(t.Context(), "mmeier", w)
		require.NoError(t, err)
	})
	a, err := New(context.Background(), Options{DataDir: dir, Training: true})
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	_, u := uiFor(t, a)

	r = u.do(http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, casework.DamagedHint, "the start page says it")
	assert.Contains(t, r.body, "Bitte die Technik anrufen")
	assert.Contains(t, r.body, "versiegelte Vorgänge werden weiter ans Rathaus gesendet")

	r = u.do(http.MethodPost, "/vorgang", url.Values{"service": {string(web.Wohnsitzanmeldung)}})
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Contains(t, errorsOf(r.body), casework.DamagedHint, "the refusal says why and what to do")
	assert.NotContains(t, r.body, "interner Fehler")
	drafts, err := u.b.Drafts(t.Context())
	require.NoError(t, err)
	assert.Empty(t, drafts, "nothing was started")
}
