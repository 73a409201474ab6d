package web_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/web"
	"koffer/store"
)

// TestReloadAfterValidationErrorNeverReposts: a refused step answers with a redirect, so the
// page shown (and every reload of it) is a GET that shows the errors and what was typed; after
// a restart of the agent, a reload or a form of the old page asks for a login instead of
// "Sicherheitsprüfung fehlgeschlagen".
func TestReloadAfterValidationErrorNeverReposts(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Wohnsitzanmeldung, "")
	form := url.Values{"familienname": {"Muster"}, "geburtsdatum": {"01.03.1950"}}
	v := versionRE.FindStringSubmatch(page.body)
	k := keyRE.FindStringSubmatch(page.body)
	form.Set("version", v[1])
	form.Set("key", k[1])
	form.Set("aktion", "weiter")
	r := b.post(path, form)
	require.Equal(t, http.StatusSeeOther, r.status, "a refused step is no page of its own: POST-redirect-GET")
	require.Equal(t, path+"?fehler=1", r.location)
	id := strings.Split(path, "/")[2]
	before, err := h.fake.Case(t.Context(), id)
	require.NoError(t, err)

	for range 2 { // the redirect target, then the caseworker's reload
		r = b.get(path + "?fehler=1")
		assert.Equal(t, http.StatusUnprocessableEntity, r.status)
		assert.Contains(t, r.body, "Vorname fehlt.")
		assert.Contains(t, r.body, `value="Muster"`, "what was typed stays")
	}
	after, err := h.fake.Case(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, before.Version, after.Version, "reloading changed nothing")
	assert.NotContains(t, b.get(path).body, "Vorname fehlt.", "the plain step shows no stale errors")

	// The agent restarts: a new server, the session is gone.
	s, err := web.New(web.Options{Backend: h.fake, Now: h.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	h.srv.Config.Handler = s
	r = b.get(path + "?fehler=1")
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/anmelden", r.location)
	r = b.post(path, form) // a form of the page shown before the restart
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/anmelden?abgelaufen=1", r.location)
	r = b.get(r.location)
	assert.Contains(t, r.body, "Die Sitzung ist abgelaufen")
	assert.NotContains(t, r.body, "Sicherheitsprüfung fehlgeschlagen")
}

func TestStepMessagesSayWhatIsWrong(t *testing.T) {
	tests := []struct {
		name        string
		visit       string
		service     web.Service
		form        url.Values
		contains    []string
		notContains []string
	}{
		{name: "date that does not exist", service: web.Wohnsitzanmeldung,
			form:     person("geburtsdatum", "31.02.1938"),
			contains: []string{"Den 31.02.1938 gibt es nicht.", "Bitte die markierten Angaben prüfen."}, notContains: []string{"TT.MM.JJJJ eingeben"}},
		{name: "date in the wrong form", service: web.Wohnsitzanmeldung,
			form:     person("geburtsdatum", "1938-02-01"),
			contains: []string{"Bitte als TT.MM.JJJJ eingeben"}},
		{name: "empty form without visit", service: web.Wohnsitzanmeldung, form: url.Values{},
			notContains: []string{"Vorausgefüllt aus dem Besuchspaket"}},
		{name: "prefilled from the visit", service: web.Personalausweis, visit: "v1", form: url.Values{},
			contains: []string{"Vorausgefüllt aus dem Besuchspaket"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			b := h.browser()
			b.login()
			path, page := b.startCase(tt.service, tt.visit)
			r := b.step(path, page, "weiter", tt.form)
			for _, c := range tt.contains {
				assert.Contains(t, r.body, c)
			}
			for _, c := range tt.notContains {
				assert.NotContains(t, r.body, c)
				assert.NotContains(t, page.body, c)
			}
		})
	}
}

// TestBannerOnlyWhenSomethingIsMarked: a step refused for a reason of the whole step (no scan
// yet) gets that reason, not "Bitte die markierten Angaben prüfen." with nothing marked.
func TestBannerOnlyWhenSomethingIsMarked(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Lebensbescheinigung, "v2")
	r := b.step(path, page, "weiter", person("versicherer", "DRV", "aktenzeichen", "1"))
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	scan := strings.TrimSuffix(r.location, "?ok=1")
	page = b.get(scan)
	r = b.step(scan, page, "weiter", url.Values{"persoenlich_unterschrieben": {"ja"}, "identitaet_geprueft": {"ja"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, r.body, "Bitte zuerst das Dokument scannen.")
	assert.NotContains(t, r.body, "Bitte die markierten Angaben prüfen.")
	assert.NotContains(t, r.body, `class="feldfehler"`)
}

// TestChildFlowFollowsAgeRules: for a child the fingerprint and signature steps say what the
// rules say (cases.FingerprintInstruction, cases.SignatureRules) and demand nothing else.
func TestChildFlowFollowsAgeRules(t *testing.T) {
	tests := []struct {
		name, birth   string
		fingers       string
		noFingersText string
		signature     string
		pad           bool
	}{
		{name: "four years old", birth: "01.03.2022", fingers: "keine Fingerabdrücke", noFingersText: "Zeigefinger", signature: "keine Unterschrift verlangt"},
		{name: "eight years old", birth: "01.03.2018", fingers: "Zuerst linker und rechter Zeigefinger", signature: "keine Unterschrift verlangt"},
		{name: "adult", birth: "01.03.1980", fingers: "Zuerst linker und rechter Zeigefinger", signature: "unterschreibt im Feld", pad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			b := h.browser()
			b.login()
			path, page := b.startCase(web.Personalausweis, "")
			r := b.step(path, page, "weiter", person("geburtsdatum", tt.birth, "groesse", "120", "augenfarbe", "blau"))
			require.Equal(t, http.StatusSeeOther, r.status, r.body)
			photo := strings.TrimSuffix(r.location, "?ok=1")
			r = b.step(photo, b.get(photo), "weiter", url.Values{"lichtbild_art": {"photographer"}, "lichtbild_code": {"DM:https://foto.example/x;id=1;key=k"}})
			require.Equal(t, http.StatusSeeOther, r.status, r.body)
			fingers := strings.TrimSuffix(r.location, "?ok=1")
			page = b.get(fingers)
			assert.Contains(t, page.body, tt.fingers)
			if tt.noFingersText != "" {
				assert.NotContains(t, page.body, tt.noFingersText)
				r = b.step(fingers, page, "weiter", nil)
				require.Equal(t, http.StatusSeeOther, r.status, "no fingerprints are demanded")
			} else {
				for _, finger := range []string{"left_index", "right_index"} {
					r = b.step(fingers, b.get(fingers), "erfassen", url.Values{"finger": {finger}})
					require.Equal(t, http.StatusSeeOther, r.status, r.body)
				}
				r = b.step(fingers, b.get(fingers), "weiter", nil)
				require.Equal(t, http.StatusSeeOther, r.status, r.body)
			}
			sign := strings.TrimSuffix(r.location, "?ok=1")
			page = b.get(sign)
			assert.Contains(t, page.body, tt.signature)
			assert.Equal(t, tt.pad, strings.Contains(page.body, `id="unterschrift-flaeche"`), "the pad only where a signature is asked for")
			r = b.step(sign, page, "weiter", nil)
			if tt.pad {
				assert.Equal(t, http.StatusUnprocessableEntity, r.status)
				assert.Contains(t, r.body, "Bitte im Feld unterschreiben lassen")
			} else {
				require.Equal(t, http.StatusSeeOther, r.status, "no signature is demanded below the rule's age: %s", r.body)
				assert.Contains(t, r.location, "/gebuehr")
			}
		})
	}
}

// TestDiscardDraftWithReason: the draft list says who started each draft; discarding needs a
// reason, deletes the draft's data and attachments and is audited with ids and the reason
// code only.
func TestDiscardDraftWithReason(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Lebensbescheinigung, "v2")
	r := b.step(path, page, "weiter", person("versicherer", "DRV", "aktenzeichen", "1"))
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	scan := strings.TrimSuffix(r.location, "?ok=1")
	r = b.step(scan, b.get(scan), "scannen", nil)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	id := strings.Split(path, "/")[2]
	atts, err := h.fake.Store().Attachments(t.Context(), id)
	require.NoError(t, err)
	require.NotEmpty(t, atts, "the scan is stored")

	start := b.get("/")
	assert.Contains(t, start.body, "Angelegt von anna")
	assert.Contains(t, start.body, "Verwerfen")

	r = b.post("/vorgang/"+id+"/verwerfen", url.Values{"grund": {""}})
	require.Equal(t, "/?verworfen=grund", r.location)
	assert.Contains(t, b.get(r.location).body, "Bitte einen Grund für das Verwerfen wählen.")
	drafts, err := h.fake.Drafts(t.Context())
	require.NoError(t, err)
	require.Len(t, drafts, 1, "nothing is discarded without a reason")

	blobs := atts
	r = b.post("/vorgang/"+id+"/verwerfen", url.Values{"grund": {"withdrawn"}})
	require.Equal(t, "/?verworfen=1", r.location)
	assert.Contains(t, b.get(r.location).body, "Der Vorgang ist verworfen.")
	drafts, err = h.fake.Drafts(t.Context())
	require.NoError(t, err)
	assert.Empty(t, drafts)
	atts, err = h.fake.Store().Attachments(t.Context(), id)
	require.NoError(t, err)
	assert.Empty(t, atts, "the attachments are deleted")
	for _, a := range blobs {
		assert.NoFileExists(t, filepath.Join(h.fake.Store().Dir(), store.BlobsDir, a.SHA256))
	}
	entries, err := h.fake.Store().AuditEntries(t.Context(), 0, 1000)
	require.NoError(t, err)
	last := entries[len(entries)-1]
	assert.Equal(t, "case.discarded.withdrawn", last.Event)
	assert.Equal(t, id, last.CaseID)
	assert.NotContains(t, last.Actor, "anna", "ids only")
}

// TestLockDropsRefusedForm: what a refused form held (perhaps a drawn signature) does not
// outlive a lock in the session's memory.
func TestLockDropsRefusedForm(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Wohnsitzanmeldung, "")
	r := b.step(path, page, "weiter", url.Values{"familienname": {"Muster"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	r = b.post("/sperren", url.Values{"zurueck": {path}})
	require.Equal(t, "/gesperrt", r.location)
	b.get("/gesperrt")
	r = b.post("/gesperrt", url.Values{"passphrase": {"korrekt pferd batterie"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	r = b.get(path + "?fehler=1")
	assert.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, r.body, `value="Muster"`)
}
