package web_test

import (
	"bytes"
	"encoding/base64"
	"image/jpeg"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/photo/phototest"
	"koffer/agent/web"
)

// TestTicksSurviveDeviceActions: what was ticked or chosen but not saved yet is shown again
// after "Scannen" and "Lichtbild aufnehmen" reload the page, with no warning; the scan gets a
// preview; the photo step refuses the document scanner.
func TestTicksSurviveDeviceActions(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Lebensbescheinigung, "v2")
	r := b.step(path, page, "weiter", person("versicherer", "INPS", "aktenzeichen", "IT-1"))
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	scanPath := strings.TrimSuffix(r.location, "?ok=1")
	id := strings.Split(scanPath, "/")[2]

	r = b.step(scanPath, b.get(scanPath), "scannen", url.Values{"persoenlich_unterschrieben": {"ja"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	page = b.get(r.location)
	require.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, page.body, `name="persoenlich_unterschrieben" value="ja" checked`, "the tick survives the scan")
	assert.NotContains(t, page.body, `name="identitaet_geprueft" value="ja" checked`, "an untouched box stays untouched")
	assert.NotContains(t, page.body, `class="hinweis fehler"`, "no warning")
	assert.Contains(t, page.body, "/vorgang/"+id+"/datei/formular", "a preview of the scan")

	file := b.get("/vorgang/" + id + "/datei/formular")
	require.Equal(t, http.StatusOK, file.status)
	assert.Equal(t, "image/png", file.header.Get("Content-Type"), "the fake scanner's page")
	assert.Equal(t, "no-store", file.header.Get("Cache-Control"))
	assert.Equal(t, http.StatusNotFound, b.get("/vorgang/"+id+"/datei/foto").status)

	// Saving the step keeps the saved values, and the unsaved ones are gone with it.
	r = b.step(scanPath, page, "weiter", url.Values{"persoenlich_unterschrieben": {"ja"}, "identitaet_geprueft": {"ja"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	page = b.get(scanPath)
	assert.Contains(t, page.body, `name="identitaet_geprueft" value="ja" checked`)

	// The photo step: the source radio survives a capture without a frame, and the scanner
	// never takes the photo.
	path, page = b.startCase(web.Personalausweis, "v1")
	r = b.step(path, page, "weiter", url.Values{"groesse": {"168"}, "augenfarbe": {"gruen"}, "familienname": {"Mustermann"},
		"vornamen": {"Erika"}, "geburtsdatum": {"12.08.1943"}, "geburtsort": {"Köln"}, "staatsangehoerigkeit": {"DEU"},
		"strasse": {"Parkallee"}, "hausnummer": {"3"}, "plz": {"50667"}, "ort": {"Köln"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	photoPath := strings.TrimSuffix(r.location, "?ok=1")
	r = b.step(photoPath, b.get(photoPath), "foto", url.Values{"lichtbild_art": {"authority"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, r.body, "Kein Kamerabild empfangen")
	assert.Contains(t, r.body, `value="authority" checked`)
	r = b.step(photoPath, b.get(photoPath), "foto", url.Values{"lichtbild_art": {"authority"}, "lichtbild": {"data:image/png;base64,aGFsbG8="}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, r.body, "Das Kamerabild konnte nicht gelesen werden", "photo.Take's hint")
	r = b.step(photoPath, b.get(photoPath), "scannen", url.Values{"lichtbild_art": {"authority"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, r.body, "mit der Kamera aufgenommen, nicht mit dem Scanner")
	page = b.get(photoPath)
	assert.NotContains(t, page.body, `value="authority" checked`, "a failed action keeps nothing")
}

// TestRecaptureHand: "Neu erfassen" on a captured hand deletes its stored fingerprint and
// starts the hand again at the index finger; the other hand keeps its capture.
func TestRecaptureHand(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Personalausweis, "v1")
	r := b.step(path, page, "weiter", url.Values{"groesse": {"168"}, "augenfarbe": {"gruen"}, "familienname": {"Mustermann"},
		"vornamen": {"Erika"}, "geburtsdatum": {"12.08.1943"}, "geburtsort": {"Köln"}, "staatsangehoerigkeit": {"DEU"},
		"strasse": {"Parkallee"}, "hausnummer": {"3"}, "plz": {"50667"}, "ort": {"Köln"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	photoPath := strings.TrimSuffix(r.location, "?ok=1")
	r = b.step(photoPath, b.get(photoPath), "weiter", url.Values{"lichtbild_art": {"photographer"}, "lichtbild_code": {"DM1;https://foto.example/p/1;k=x"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	fingers := strings.TrimSuffix(r.location, "?ok=1")
	id := strings.Split(fingers, "/")[2]
	for _, f := range []string{"left_index", "right_index"} {
		r = b.step(fingers, b.get(fingers), "erfassen", url.Values{"finger": {f}})
		require.Equal(t, http.StatusSeeOther, r.status, r.body)
	}
	prints := func() []string {
		atts, err := h.fake.Store().Attachments(t.Context(), id)
		require.NoError(t, err)
		var out []string
		for _, at := range atts {
			out = append(out, at.Finger)
		}
		return out
	}
	require.Equal(t, []string{"left_index", "right_index"}, prints())
	page = b.get(fingers)
	assert.Equal(t, 2, strings.Count(page.body, `value="neu"`), "Neu erfassen for each captured hand")

	r = b.step(fingers, page, "neu", url.Values{"hand": {"left"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	assert.Equal(t, []string{"right_index"}, prints(), "the left hand's fingerprint is deleted")
	page = b.get(fingers)
	assert.Contains(t, page.body, "Versuche übrig: <strong>3</strong>", "the left hand starts again")
	assert.Contains(t, page.body, "rechter Zeigefinger erfasst")
	r = b.step(fingers, page, "weiter", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, r.status, "the left hand is open again")
}

// TestPhotoCodeReplacesPhotoTaken: a frame posted as the page does is checked and stored;
// choosing the photographer's code afterwards deletes it, so a case never carries two photos.
func TestPhotoCodeReplacesPhotoTaken(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Personalausweis, "v1")
	r := b.step(path, page, "weiter", url.Values{"groesse": {"168"}, "augenfarbe": {"gruen"}, "familienname": {"Mustermann"},
		"vornamen": {"Erika"}, "geburtsdatum": {"12.08.1943"}, "geburtsort": {"Köln"}, "staatsangehoerigkeit": {"DEU"},
		"strasse": {"Parkallee"}, "hausnummer": {"3"}, "plz": {"50667"}, "ort": {"Köln"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	photoPath := strings.TrimSuffix(r.location, "?ok=1")
	id := strings.Split(photoPath, "/")[2]

	var frame bytes.Buffer
	require.NoError(t, jpeg.Encode(&frame, phototest.Frame(phototest.Face(t), 640, 480, 1.05, 0.5, 0.5), &jpeg.Options{Quality: 92}))
	r = b.step(photoPath, b.get(photoPath), "foto", url.Values{"lichtbild_art": {"authority"},
		"lichtbild": {"data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(frame.Bytes())}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	stored := b.get("/vorgang/" + id + "/datei/foto")
	require.Equal(t, http.StatusOK, stored.status)
	assert.Equal(t, "image/jpeg", stored.header.Get("Content-Type"))
	page = b.get(photoPath)
	assert.Contains(t, page.body, `id="foto-vorschau"`)
	assert.Contains(t, page.body, "Neu aufnehmen")
	assert.Contains(t, page.body, `data-augen="22 32"`, "the guide's eye band is the adults' template")
	assert.Contains(t, page.body, "Schablone ab 10 Jahre")

	r = b.step(photoPath, page, "weiter", url.Values{"lichtbild_art": {"photographer"}, "lichtbild_code": {"DM1;https://foto.example/p/1;k=x"}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	atts, err := h.fake.Store().Attachments(t.Context(), id)
	require.NoError(t, err)
	assert.Empty(t, atts, "the photo taken gives way to the code")
	assert.Equal(t, http.StatusNotFound, b.get("/vorgang/"+id+"/datei/foto").status)
}
