package agent

import (
	"bytes"
	"image"
	"image/jpeg"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/casework"
	"koffer/agent/photo"
	"koffer/agent/photo/phototest"
	"koffer/agent/web"
	"koffer/agent/web/webtest"
)

// cameraBrowser is chromium whose camera plays video (a y4m of phototest), logged in at the
// UI of u. Chromium treats localhost as a secure context, so getUserMedia works over http.
func cameraBrowser(t *testing.T, u *uiClient, video string) *webtest.Browser {
	t.Helper()
	b := webtest.NewBrowser(t, strings.Replace(u.base, "127.0.0.1", "localhost", 1), 2*time.Minute,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", video))
	b.Login("mmeier", "richtige Passphrase")
	return b
}

// screenshot writes the page to $KOFFER_SCREENSHOTS (default testdata/web/screenshots, which
// git ignores).
func screenshot(t *testing.T, b *webtest.Browser, name string) {
	t.Helper()
	dir := os.Getenv("KOFFER_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "testdata", "web", "screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	file := strings.ReplaceAll(t.Name(), "/", "_") + "-" + name + ".png"
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), png, 0o644))
}

// photoStep starts a Personalausweis through the UI's HTTP client and returns the path of its
// photo step.
func photoStep(t *testing.T, u *uiClient) string {
	t.Helper()
	p := u.start(web.Personalausweis)
	return u.next(p, personValues("groesse", "170", "augenfarbe", "blau"))
}

// takePhoto chooses "Aufnahme durch die Behörde" on the photo step, waits for the live
// preview and presses "Lichtbild aufnehmen".
func takePhoto(t *testing.T, b *webtest.Browser, step string) {
	t.Helper()
	b.Open(step)
	b.H1("Lichtbild", 15*time.Second)
	b.Check("f-lichtbild_art-1")
	require.Equal(t, cases.PhotoAuthority, b.Eval(`document.querySelector('input[name=lichtbild_art]:checked').value`))
	b.Do(chromedp.Poll[chromedp.Void](`document.getElementById('kamera-video').videoWidth > 0`, chromedp.WithPollingTimeout(20*time.Second)))
	screenshot(t, b, "kamera")
	b.Submit("#foto-aufnehmen", "Lichtbild", 30*time.Second)
	screenshot(t, b, "aufgenommen")
}

// TestOnSitePhotoTakenThroughTheBrowserCamera: the caseworker takes the photo through the
// laptop's camera (Chromium's fake camera playing the shipped test face) in the UI of a real
// agent. The agent checks the frame, crops it to 413×531 and stores it encrypted; the page
// shows the preview and keeps the chosen photo source; the photo is in the sealed packet,
// opened with the training town hall's key. An empty frame gets the German hint and stores
// nothing.
func TestOnSitePhotoTakenThroughTheBrowserCamera(t *testing.T) {
	a, _, u := newUI(t)
	face := phototest.Frame(phototest.Face(t), 640, 480, 1.05, 0.5, 0.5)
	b := cameraBrowser(t, u, phototest.Y4MFile(t, face, 2))
	step := photoStep(t, u)
	id := strings.Split(step, "/")[2]
	takePhoto(t, b, step)

	assert.Empty(t, b.Eval(`(document.getElementById('schrittfehler') || {}).textContent || ''`), "no error")
	assert.Equal(t, cases.PhotoAuthority, b.Eval(`document.querySelector('input[name=lichtbild_art]:checked').value`),
		"the photo source chosen but not saved survives the photo's reload")
	b.Do(chromedp.Poll[chromedp.Void](`document.querySelector('#foto-vorschau img').complete`, chromedp.WithPollingTimeout(10*time.Second)))
	assert.Equal(t, "413x531", b.Eval(`(i => i.naturalWidth + 'x' + i.naturalHeight)(document.querySelector('#foto-vorschau img'))`), "the preview is the cropped photo")
	assert.Equal(t, "true", b.Eval(`document.getElementById('kamera-live').hidden`), "the camera waits for „Neu aufnehmen“")

	stored, err := u.b.DraftFile(t.Context(), id, casework.PartPhoto)
	require.NoError(t, err)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(stored))
	require.NoError(t, err)
	assert.Equal(t, "jpeg", format)
	assert.Equal(t, image.Pt(photo.Width, photo.Height), image.Pt(cfg.Width, cfg.Height), "cropped to the target size")
	img, err := jpeg.Decode(bytes.NewReader(stored))
	require.NoError(t, err)
	p, err := photo.FromImage(img, photo.Adult)
	require.NoError(t, err, "the stored photo itself meets the template")
	assert.InDelta(t, 34, p.Frame.Head, 3, "head height in mm")
	atts, err := a.Store().Attachments(t.Context(), id)
	require.NoError(t, err)
	require.Len(t, atts, 1)
	assert.Equal(t, cases.KindPhoto, atts[0].Kind)

	// Neu aufnehmen: the second photo replaces the first.
	b.Do(chromedp.Click(chromedp.CSS("#foto-neu")))
	b.Do(chromedp.Poll[chromedp.Void](`document.getElementById('kamera-video').videoWidth > 0`, chromedp.WithPollingTimeout(20*time.Second)))
	b.Submit("#foto-aufnehmen", "Lichtbild", 30*time.Second)
	atts, err = a.Store().Attachments(t.Context(), id)
	require.NoError(t, err)
	require.Len(t, atts, 1, "one photo per case")

	b.Next("Fingerabdrücke")
	p0 := strings.Replace(step, "/foto", "/finger", 1)
	u.captureFingers(p0)
	next := u.next(p0, nil)
	next = u.next(next, url.Values{"unterschrift": {signaturePNG(t)}})
	next = u.next(next, url.Values{"zahlart": {"cash"}})
	summary := u.do(http.MethodGet, next, nil)
	b.Open(next)
	b.H1("Prüfen und abschließen", 15*time.Second)
	screenshot(t, b, "zusammenfassung")
	assert.Contains(t, summary.body, `src="/vorgang/`+id+`/datei/foto`, "the summary shows the photo")
	assert.Contains(t, summary.body, "; linker Zeigefinger übersprungen: Finger verletzt", "the summary shows the skip reason")
	assert.Contains(t, summary.body, `/datei/unterschrift`, "the summary shows the signature")
	u.finish(next)

	pk, got := openForm(t, a, id)
	assert.Equal(t, cases.PhotoAuthority, got.Details.PhotoSource)
	assert.Empty(t, got.Details.PhotoCode)
	var photos [][]byte
	for _, part := range pk.Parts {
		if part.Kind == cases.KindPhoto {
			photos = append(photos, part.Data)
		}
	}
	require.Len(t, photos, 1, "the photo is in the sealed packet")
	assert.Equal(t, stored, photos[0], "the photo sealed is the one stored")
	cfg, _, err = image.DecodeConfig(bytes.NewReader(photos[0]))
	require.NoError(t, err)
	assert.Equal(t, image.Pt(photo.Width, photo.Height), image.Pt(cfg.Width, cfg.Height))

	t.Run("no face", func(t *testing.T) {
		wall := phototest.Frame(image.NewUniform(phototest.Background), 640, 480, 0, 0.5, 0.5)
		b := cameraBrowser(t, u, phototest.Y4MFile(t, wall, 2))
		step := photoStep(t, u)
		takePhoto(t, b, step)
		assert.Contains(t, b.Text("#schrittfehler"), "Kein Gesicht erkannt")
		assert.Equal(t, cases.PhotoAuthority, b.Eval(`document.querySelector('input[name=lichtbild_art]:checked').value`))
		atts, err := a.Store().Attachments(t.Context(), strings.Split(step, "/")[2])
		require.NoError(t, err)
		assert.Empty(t, atts, "nothing stored")
	})
}
