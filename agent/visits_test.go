package agent

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/web"
	"koffer/store"

	"koffer/sync/enroll"
	"koffer/sync/receipt"
	"koffer/sync/visit"
)

// sealTodaysPack seals the example visit pack, moved to today, as the town hall would for
// this kit.
func sealTodaysPack(t *testing.T, a *Agent) []byte {
	t.Helper()
	raw, err := os.ReadFile("../testdata/visits/2026-11-24.json")
	require.NoError(t, err)
	raw = []byte(strings.Replace(string(raw), `"date": "2026-11-24"`, `"date": "`+a.now().Format("2006-01-02")+`"`, 1))
	return signAndSeal(t, a, a.kit.Bundle.KitID, raw)
}

// signAndSeal signs raw for kitID with a receipt key of the kit's CA and seals it to the
// kit's visit key, as the town hall does.
func signAndSeal(t *testing.T, a *Agent, kitID string, raw []byte) []byte {
	t.Helper()
	ca, ok := testCAs.Load(a.opts.DataDir)
	require.True(t, ok, "a kit of newTestAgent")
	s, err := receipt.NewSigner(ca.(*enroll.CA).Cert, ca.(*enroll.CA).Key, a.now())
	require.NoError(t, err)
	rs, err := a.VisitRecipient()
	require.NoError(t, err)
	require.NotEmpty(t, rs, "the visit key is made at the first login")
	r, err := age.ParseX25519Recipient(rs)
	require.NoError(t, err)
	sealed, _, err := visit.Seal(raw, kitID, s, r)
	require.NoError(t, err)
	return sealed
}

// TestVisitPackWaitsForLogin: a pack that arrives while nobody is logged in is not stored
// (the data key is not there to encrypt it) and is stored at the next login.
func TestVisitPackWaitsForLogin(t *testing.T) {
	a, _, _ := newUI(t)
	a.Logout()
	stored, err := a.StoreVisitPack(t.Context(), "pack-1", sealTodaysPack(t, a))
	require.NoError(t, err)
	assert.False(t, stored, "not acknowledged while it waits")
	packs, err := a.Store().VisitPacks(t.Context())
	require.NoError(t, err)
	assert.Empty(t, packs, "nothing stored without the data key")

	require.NoError(t, a.Login(t.Context(), "mmeier", []byte("richtige Passphrase")))
	packs, err = a.Store().VisitPacks(t.Context())
	require.NoError(t, err)
	require.Len(t, packs, 1)
	visits, err := a.Visits(t.Context(), a.now().Format("2006-01-02"))
	require.NoError(t, err)
	require.Len(t, visits, 2)
	assert.Equal(t, "pack-1/termin-1", visits[0].ID)

	stored, err = a.StoreVisitPack(t.Context(), "pack-1", []byte("garbage"))
	require.NoError(t, err, "a known pack is not opened again")
	assert.True(t, stored, "a known pack is acknowledged again")
	_, err = a.StoreVisitPack(t.Context(), "pack-2", []byte("garbage"))
	assert.Error(t, err, "a pack that does not open is refused")
}

// TestWebUIMeldebescheinigungFromVisitPack: the start page lists the day's appointments, a
// case started from one is prefilled, and the Meldebescheinigung is printed from the register
// extract; without a visit it is refused with a German explanation.
func TestWebUIMeldebescheinigungFromVisitPack(t *testing.T) {
	a, pr, u := newUI(t)
	_, err := a.StoreVisitPack(t.Context(), "pack-1", sealTodaysPack(t, a))
	require.NoError(t, err)

	start := u.do(http.MethodGet, "/", nil)
	assert.Contains(t, start.body, "09:30 Uhr · Hedwig Ottilie Fiktiva")
	assert.Contains(t, start.body, "Pflegeheim Abendrot")

	r := u.do(http.MethodPost, "/vorgang", url.Values{"service": {"meldebescheinigung"}, "visit": {"pack-1/termin-1"}})
	require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
	r = u.do(http.MethodGet, r.location, nil)
	p := r.location
	page := u.do(http.MethodGet, p, nil)
	assert.Contains(t, page.body, `value="Fiktiva"`, "prefilled from the visit pack")
	assert.Contains(t, page.body, `value="17.04.1938"`)
	p = u.next(p, url.Values{"familienname": {"Fiktiva"}, "vornamen": {"Hedwig Ottilie"}, "geburtsdatum": {"17.04.1938"},
		"geburtsort": {"Görlitz"}, "staatsangehoerigkeit": {"DEU"}, "strasse": {"Lindenweg"}, "hausnummer": {"4"}, "plz": {"12345"}, "ort": {"Musterstadt"}})
	p = u.next(p, url.Values{"art": {"simple"}, "ausweisart": {"personalausweis"}, "ausweisnummer": {"L01X00T47"}})
	id := u.finish(p)
	assertSealed(t, a, id)
	assert.Equal(t, []string{"Meldebescheinigung"}, jobNames(t, pr))

	// In training the trainee opens what the simulated printer received, from the case.
	done := u.do(http.MethodGet, u.do(http.MethodGet, "/vorgang/"+id, nil).location, nil)
	require.Contains(t, done.body, "abgeschlossen")
	link := "/uebungsdruck/" + id + "/" + web.DocRegister
	assert.Contains(t, done.body, `href="`+link+`"`, "the sealed case links its training print")
	printed := u.do(http.MethodGet, link, nil)
	require.Equal(t, http.StatusOK, printed.status)
	assert.Equal(t, string(pr.Jobs()[0].Data), printed.body, "exactly the PDF the simulator received")
	assert.Equal(t, http.StatusNotFound, u.do(http.MethodGet, "/uebungsdruck/"+id+"/"+web.DocForm, nil).status, "nothing else was printed")

	// An extended Meldebescheinigung is the Bürgeramt's: refused with a German note, nothing printed.
	r = u.do(http.MethodPost, "/vorgang", url.Values{"service": {"meldebescheinigung"}, "visit": {"pack-1/termin-1"}})
	require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
	p = u.do(http.MethodGet, r.location, nil).location
	p = u.next(p, personValues())
	p = u.next(p, url.Values{"art": {"extended"}, "ausweisart": {"personalausweis"}, "ausweisnummer": {"L01X00T47"}})
	r = u.step(p, "drucken", nil)
	assert.Contains(t, strings.Join(errorsOf(r.body), " "), "erweiterte Meldebescheinigung stellt das Bürgeramt aus")
	assert.Len(t, pr.Jobs(), 1)

	// Without a visit there is no extract: not offered without an appointment, and refused
	// with the German reason before anything is captured.
	_, tiles, found := strings.Cut(start.body, "Neuer Vorgang ohne Termin")
	require.True(t, found)
	assert.NotContains(t, tiles, `value="meldebescheinigung"`, "no tile without a visit")
	assert.Contains(t, start.body, "nur über einen gebuchten Besuch")
	drafts, err := a.Store().Cases(t.Context(), store.StateDraft)
	require.NoError(t, err)
	r = u.do(http.MethodPost, "/vorgang", url.Values{"service": {"meldebescheinigung"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, r.body, "kein Registerauszug")
	after, err := a.Store().Cases(t.Context(), store.StateDraft)
	require.NoError(t, err)
	assert.Len(t, after, len(drafts), "no draft is created")
	assert.Len(t, pr.Jobs(), 1, "no Meldebescheinigung from typed data")
}
