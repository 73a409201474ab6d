package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/localapi"
	"koffer/agent/web"
	"koffer/agent/web/webtest"
	"koffer/devices/peer"
)

// The browser tests drive Debian's chromium headless against the UI served over the test
// double. They check the flows as a caseworker clicks them, accessibility in the rendered page,
// and write screenshots of the main steps to $KOFFER_SCREENSHOTS (default
// testdata/web/screenshots, which git ignores).

// Browser is one headless chromium with a fresh profile.
type Browser struct {
	t     testing.TB
	ctx   context.Context
	base  string
	shots string
	n     int
}

// newBrowser starts chromium for the test (skipping without it, failing under
// KOFFER_REQUIRE_PEERS=1) and points it at base.
func newBrowser(t testing.TB, base string) *Browser {
	t.Helper()
	exe := peer.Need(t, "chromium")[0]
	ctx := webtest.Chromium(t, exe, chromedp.Flag("lang", "de-DE"), chromedp.WindowSize(1366, 768))
	// Bound the whole test; the first Run starts the browser under this context.
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)))
	return &Browser{t: t, ctx: ctx, base: base, shots: screenshotDir(t)}
}

func screenshotDir(t testing.TB) string {
	dir := os.Getenv("KOFFER_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "web", "screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func (b *Browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, actions...))
}

func (b *Browser) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

// h1 waits for a page whose heading contains text.
func (b *Browser) h1(text string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[contains(., %q)]`, text)))); err != nil {
		b.shot("fehlt-" + text)
		var where, body string
		b.eval(`location.pathname`, &where)
		b.eval(`document.body.innerText.slice(0, 400)`, &body)
		b.t.Fatalf("no heading %q on %s: %v\n%s", text, where, err, body)
	}
}

func (b *Browser) click(css string) { b.t.Helper(); b.do(chromedp.Click(chromedp.CSS(css))) }

// clickText clicks the button or link whose text contains text.
func (b *Browser) clickText(text string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.Search(fmt.Sprintf(`//*[self::button or self::a][contains(., %q)]`, text))))
}

// fill types into a text field after clearing it, as a caseworker would.
func (b *Browser) fill(name, value string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`document.getElementById(%q).value = ''`, "f-"+name), nil)
	b.do(chromedp.SendKeys(chromedp.CSS("#f-"+name), value))
}

// submit clicks a submit button and waits until the next page is loaded and shows title.
func (b *Browser) submit(css, title string) {
	b.t.Helper()
	b.eval(`window.kofferAlt = 1`, nil)
	b.click(css)
	b.newPage()
	b.h1(title)
}

// newPage waits until the document marked by submit has been replaced.
func (b *Browser) newPage() {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		gone, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.kofferAlt === undefined && document.readyState !== 'loading'`))
		if err == nil && gone {
			return
		}
		if time.Now().After(deadline) {
			b.shot("zeitueberschreitung")
			b.t.Fatalf("no new page after 20 s (last error %v)", err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// meldeschein makes the choices the Meldeschein requires on a Wohnsitzanmeldung's first step.
func (b *Browser) meldeschein() {
	b.t.Helper()
	b.choose("f-geschlecht", "male")
	b.choose("f-familienstand", "single")
	b.choose("f-ausweisart", "personalausweis")
	b.fill("ausweisnummer", "L01X00T47")
	b.fill("ausweisbehoerde", "Stadt Musterstadt")
	b.fill("ausweis_ausgestellt", "01.06.2021")
	b.fill("ausweis_gueltig", "31.05.2031")
}

func (b *Browser) choose(name, value string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.CSS("#"+name), value))
}

// check ticks a checkbox or radio by clicking its label (the touch target).
func (b *Browser) check(id string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(`label[for="` + id + `"]`)))
}

func (b *Browser) text(css string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(css)))
	require.NoError(b.t, err)
	return s
}

func (b *Browser) eval(js string, out any) {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](js, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err)
	switch o := out.(type) {
	case *[]string:
		for _, x := range v.([]any) {
			*o = append(*o, x.(string))
		}
	case *float64:
		*o = v.(float64)
	case *string:
		*o = v.(string)
	}
}

// shot writes a PNG of the whole page.
func (b *Browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	b.n++
	file := fmt.Sprintf("%s-%02d-%s.png", strings.ReplaceAll(b.t.Name(), "/", "_"), b.n, name)
	require.NoError(b.t, os.WriteFile(filepath.Join(b.shots, file), png, 0o644))
}

// a11y asserts the page passes testdata/web/a11y.js (shared with the back office's tests):
// every input labelled, WCAG AA contrast, touch targets of at least 44x44 CSS px, no
// horizontal scrolling.
func (b *Browser) a11y(where string) {
	b.t.Helper()
	js, err := os.ReadFile(filepath.Join("..", "..", "testdata", "web", "a11y.js"))
	require.NoError(b.t, err)
	var probs []string
	b.eval(string(js), &probs)
	assert.Empty(b.t, probs, "accessibility problems on %s", where)
}

// login types name and passphrase with the keyboard only.
func (b *Browser) login() {
	b.t.Helper()
	b.open("/anmelden")
	b.h1("Anmelden")
	b.a11y("login")
	b.do(chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.KeyEvent("anna"), chromedp.KeyEvent("\t"),
		chromedp.KeyEvent("korrekt pferd batterie"), chromedp.KeyEvent("\r"))
	b.h1("Guten Tag")
}

// next saves the step and waits for the next one.
func (b *Browser) next(title string) {
	b.t.Helper()
	b.submit(`button[value="weiter"]`, title)
}

// startVisit starts a service from a booked visit on the start page.
func (b *Browser) startVisit(person string, svc web.Service) {
	b.t.Helper()
	f, _ := web.FlowOf(svc)
	b.do(chromedp.Click(chromedp.Search(fmt.Sprintf(`//li[contains(., %q)]//button[contains(., %q)]`, person, f.Title))))
}

func (b *Browser) sign() {
	b.t.Helper()
	var box string
	b.eval(`(() => { document.getElementById('unterschrift-flaeche').scrollIntoView({block: 'center'});
		const r = document.getElementById('unterschrift-flaeche').getBoundingClientRect();
		return [r.left, r.top, r.width, r.height].join(','); })()`, &box)
	var x, y, w, h float64
	_, err := fmt.Sscanf(box, "%g,%g,%g,%g", &x, &y, &w, &h)
	require.NoError(b.t, err)
	b.do(chromedp.DragAndDropXY(x+w*0.1, y+h*0.7, x+w*0.5, y+h*0.3, 12),
		chromedp.DragAndDropXY(x+w*0.5, y+h*0.3, x+w*0.9, y+h*0.6, 12))
	var v string
	b.eval(`document.getElementById('unterschrift').value.slice(0, 22)`, &v)
	require.Equal(b.t, "data:image/png;base64,", v, "the pad filled the hidden field")
}

func TestBrowserPersonalausweis(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h.srv.URL)
	b.login()
	b.shot("start")
	b.a11y("start")
	b.startVisit("Erika Mustermann", web.Personalausweis)
	b.h1("Angaben zur Person")
	assert.Equal(t, "Mustermann", b.value("#f-familienname"), "prefilled from the visit pack")
	b.a11y("person")
	b.fill("groesse", "abc")
	b.next("Angaben zur Person")
	assert.Contains(t, b.text("#e-groesse"), "Größe in Zentimetern")
	var focused string
	b.eval(`document.activeElement.id`, &focused)
	assert.Equal(t, "f-groesse", focused, "the keyboard focus is on the first field to correct")
	assert.Contains(t, b.text("#e-augenfarbe"), "Bitte auswählen")
	b.shot("person-fehler")
	b.fill("groesse", "164")
	b.choose("f-augenfarbe", "braun")
	b.next("Lichtbild")
	b.check("f-lichtbild_art-0")
	b.fill("lichtbild_code", "https://foto.example/abc;id=4711;key=geheim")
	b.a11y("foto")
	b.shot("lichtbild")
	b.next("Fingerabdrücke")

	// Left index: three poor captures, the operator switches to the thumb; right index good.
	h.fake.QueueQualities(12, 15, 20, 60, 72)
	for range 3 {
		b.submit(`#hand-left button[value="erfassen"]`, "Fingerabdrücke")
	}
	assert.Contains(t, b.text("#hand-left"), "Drei Versuche unter dem Schwellwert")
	b.a11y("finger-entscheidung")
	b.shot("finger-entscheidung")
	b.choose("grund-left", "injured")
	b.submit(`#hand-left button[value="next"]`, "Fingerabdrücke")
	assert.Contains(t, b.text("#hand-left"), "linker Daumen")
	b.submit(`#hand-left button[value="erfassen"]`, "Fingerabdrücke")
	b.submit(`#hand-right button[value="erfassen"]`, "Fingerabdrücke")
	assert.Contains(t, b.text("#hand-left"), "linker Daumen erfasst, Qualität 60")
	assert.Contains(t, b.text("#hand-right"), "rechter Zeigefinger erfasst, Qualität 72")
	b.shot("finger-fertig")
	b.next("Unterschrift")
	b.sign()
	b.a11y("unterschrift")
	b.shot("unterschrift")
	b.next("Gebühr")
	assert.Contains(t, b.text(".gebuehr"), "46,00 EUR")
	b.check("f-zahlart-0")
	b.next("Prüfen und abschließen")
	b.a11y("abschluss")
	b.shot("abschluss")

	// Printer out of paper: a German hint, then retry.
	h.fake.FailPrint(webtest.PrinterOutOfPaper)
	b.submit(`button[value="drucken"]`, "Prüfen und abschließen")
	assert.Contains(t, b.text(".geraet"), "Papier einlegen")
	b.shot("drucker-papier")
	h.fake.FailPrint(nil)
	b.submit(`button[value="drucken"]`, "Prüfen und abschließen")
	b.submit(`button[value="versiegeln"]`, "abgeschlossen")
	b.a11y("fertig")
	b.shot("versiegelt")
	assert.Equal(t, 1, h.fake.Prints[web.DocReceipt])
	assert.Equal(t, 1, h.fake.Seals)
}

func (b *Browser) value(css string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(css)))
	require.NoError(b.t, err)
	return v
}

func TestBrowserLebensbescheinigung(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h.srv.URL)
	b.login()
	b.startVisit("Hans Beispiel", web.Lebensbescheinigung)
	b.h1("Angaben zur Person")
	b.fill("versicherer", "Istituto Nazionale della Previdenza Sociale")
	b.fill("aktenzeichen", "IT-2026-0815")
	b.next("Formular der Kasse")
	b.a11y("formular")
	b.submit(`button[value="scannen"]`, "Formular der Kasse")
	assert.Contains(t, b.text(".geraet-aktion"), "Gescannt: 1 Seite(n)")
	b.check("f-persoenlich_unterschrieben")
	b.check("f-identitaet_geprueft")
	b.shot("gescannt")
	b.next("Prüfen und abschließen")
	b.shot("abschluss")
	b.submit(`button[value="drucken"]`, "Prüfen und abschließen")
	b.submit(`button[value="versiegeln"]`, "abgeschlossen")
	b.shot("versiegelt")
	assert.Equal(t, 1, h.fake.Prints[web.DocConfirmation])
	assert.Equal(t, 1, h.fake.Seals)
}

func TestBrowserMeldebescheinigung(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h.srv.URL)
	b.login()
	b.startVisit("Erika Mustermann", web.Meldebescheinigung)
	b.h1("Angaben zur Person")
	b.next("Registerauszug")
	assert.Contains(t, b.text("#schritt"), "Parkallee 3, 50667 Köln (alleinige Wohnung)")
	b.check("f-art-0")
	b.choose("f-ausweisart", "personalausweis")
	b.fill("ausweisnummer", "L01X00T47")
	b.a11y("auszug")
	b.shot("auszug")
	b.next("Prüfen und abschließen")
	b.submit(`button[value="drucken"]`, "Prüfen und abschließen")
	b.submit(`button[value="versiegeln"]`, "abgeschlossen")
	b.shot("versiegelt")
	assert.Equal(t, 1, h.fake.Prints[web.DocRegister])
}

func TestBrowserWohnsitzanmeldung(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h.srv.URL)
	b.login()
	b.startVisit("Hans Beispiel", web.Wohnsitzanmeldung)
	b.h1("Angaben zur Person")
	b.next("Angaben zur Person")
	assert.Contains(t, b.text("#e-geschlecht"), "Bitte auswählen", "the Meldeschein asks the sex")
	b.meldeschein()
	b.next("Neue und bisherige Anschrift")
	b.check("f-wohnung-0")
	b.fill("neu_strasse", "Lindenstraße")
	b.fill("neu_hausnummer", "4")
	b.fill("neu_plz", "1234")
	b.fill("neu_ort", "Musterstadt")
	b.fill("einzug", h.clock.Now().AddDate(0, 0, -20).Format("02.01.2006"))
	b.fill("alt_strasse", "Bahnhofstraße")
	b.fill("alt_hausnummer", "1")
	b.fill("alt_plz", "54321")
	b.fill("alt_ort", "Altstadt")
	b.next("Neue und bisherige Anschrift")
	assert.Contains(t, b.text("#e-neu_plz"), "fünf Ziffern")
	b.a11y("adresse-fehler")
	b.shot("adresse-fehler")
	b.fill("neu_plz", "12345")
	b.next("Mitziehende Familienangehörige")
	b.shot("familie")
	b.next("Wohnungsgeberbestätigung")
	b.next("Wohnungsgeberbestätigung")
	assert.Contains(t, b.text("#schrittfehler"), "Bitte zuerst das Dokument scannen.")
	b.submit(`button[value="scannen"]`, "Wohnungsgeberbestätigung")
	b.check("f-vermieter_geprueft")
	b.shot("vermieter")
	b.next("Anmeldeformular")
	b.submit(`button[value="drucken"]`, "Anmeldeformular")
	b.check("f-formular_unterschrieben")
	b.shot("formular")
	b.next("Unterschrift")
	b.sign()
	b.next("Prüfen und abschließen")
	assert.Contains(t, b.text("main"), "später als zwei Wochen nach dem Einzug")
	b.a11y("abschluss")
	b.shot("abschluss")
	b.submit(`button[value="drucken"]`, "Prüfen und abschließen")
	b.submit(`button[value="versiegeln"]`, "abgeschlossen")
	b.shot("versiegelt")
	assert.Equal(t, 1, h.fake.Prints[web.DocForm])
	assert.Equal(t, 1, h.fake.Prints[web.DocRegistration])
	assert.Equal(t, 1, h.fake.Seals)
}

func TestBrowserIdleLockAndCSRF(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h.srv.URL)
	b.login()
	b.startVisit("Hans Beispiel", web.Wohnsitzanmeldung)
	b.h1("Angaben zur Person")
	b.meldeschein()
	b.next("Neue und bisherige Anschrift")
	var here string
	b.eval(`location.pathname`, &here)

	// A request without the token is refused and changes nothing.
	var status float64
	b.eval(`fetch('/vorgang', {method: 'POST', body: new URLSearchParams({service: 'meldebescheinigung'})}).then(r => r.status)`, &status)
	assert.Equal(t, float64(http.StatusForbidden), status)
	drafts, err := h.fake.Drafts(t.Context())
	require.NoError(t, err)
	assert.Len(t, drafts, 1)

	// Idle for 16 minutes: the open page is sent to the lock screen by the event stream.
	b.fill("neu_strasse", "Lindenstraße 4")
	h.clock.Add(16 * time.Minute)
	b.h1("Gesperrt")
	b.a11y("gesperrt")
	b.shot("gesperrt")
	b.do(chromedp.SendKeys(chromedp.CSS("#passphrase"), "korrekt pferd batterie\r"))
	b.h1("Neue und bisherige Anschrift")
	var back string
	b.eval(`location.pathname`, &back)
	assert.Equal(t, here, back, "unlock returns to the same step")
	assert.Equal(t, "Lindenstraße 4", b.value("#f-neu_strasse"), "typed but unsaved input survives the lock")
	drafts, err = h.fake.Drafts(t.Context())
	require.NoError(t, err)
	require.Len(t, drafts, 1)
	assert.Equal(t, "adresse", drafts[0].Step)
}

func TestBrowserTouchScreenAndStatusPush(t *testing.T) {
	h := newHarness(t)
	b := newBrowser(t, h.srv.URL)
	b.do(chromedp.EmulateViewport(1280, 800, chromedp.EmulateTouch))
	b.login()
	b.a11y("start 10 Zoll")
	b.shot("start-10zoll")
	assert.Contains(t, b.text("#status"), "Drucker: bereit")

	// The daemon reports the printer out of paper: the page updates without a reload.
	h.fake.SetOverview(web.Queue{Waiting: 3, Oldest: h.clock.Now().Add(-49 * time.Hour)}, web.Uplink{Online: true, Sending: true, Progress: 40},
		[]web.Device{{Kind: "printer", State: localapi.DeviceFailed, Hint: "Papier einlegen und auf Weiter tippen."}, {Kind: "scanner", State: localapi.DeviceReady}, {Kind: "fingerprint", State: localapi.DeviceReady}})
	b.do(chromedp.WaitVisible(chromedp.Search(`//*[@id="status"]//*[contains(., "Papier einlegen")]`)))
	assert.Contains(t, b.text("#status"), "3 Vorgänge warten auf Übertragung, ältester seit 2 Tagen.")
	assert.Contains(t, b.text("#status"), "Überträgt gerade (40 %)")
	b.a11y("status geändert")
	b.shot("status-drucker")
}
