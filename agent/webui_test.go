package agent

import (
	"bytes"
	"encoding/base64"
	"html"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/agent/web"
	"koffer/devices/sim"
	"koffer/store"
)

type uiClient struct {
	b    *WebBackend
	t    testing.TB
	base string
	c    *http.Client
	csrf string
}

var (
	uiCSRF    = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	uiVersion = regexp.MustCompile(`name="version" value="([0-9]+)"`)
	uiKey     = regexp.MustCompile(`name="key" value="([^"]+)"`)
)

type uiResp struct {
	status   int
	location string
	body     string
}

func (u *uiClient) do(method, path string, form url.Values) uiResp {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		if form.Get("csrf") == "" {
			form.Set("csrf", u.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.base+path, body)
	require.NoError(u.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := u.c.Do(req)
	require.NoError(u.t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(u.t, err)
	if m := uiCSRF.FindSubmatch(data); m != nil {
		u.csrf = string(m[1])
	}
	return uiResp{status: res.StatusCode, location: res.Header.Get("Location"), body: html.UnescapeString(string(data))}
}

// step posts action on the step page at path with the page's version and key.
func (u *uiClient) step(path, action string, form url.Values) uiResp {
	u.t.Helper()
	page := u.do(http.MethodGet, path, nil)
	require.Equal(u.t, http.StatusOK, page.status, "GET %s", path)
	if form == nil {
		form = url.Values{}
	}
	form.Set("version", uiVersion.FindStringSubmatch(page.body)[1])
	form.Set("key", uiKey.FindStringSubmatch(page.body)[1])
	form.Set("aktion", action)
	r := u.do(http.MethodPost, path, form)
	if r.status == http.StatusSeeOther && r.location == path+"?fehler=1" {
		return u.do(http.MethodGet, r.location, nil) // a refused change: POST-redirect-GET
	}
	return r
}

func (u *uiClient) next(path string, form url.Values) string {
	u.t.Helper()
	r := u.step(path, "weiter", form)
	require.Equal(u.t, http.StatusSeeOther, r.status, "%s: %s", path, errorsOf(r.body))
	return strings.TrimSuffix(r.location, "?ok=1")
}

var errRE = regexp.MustCompile(`class="(?:feldfehler|hinweis fehler)"[^>]*>([^<]+)<`)

func errorsOf(body string) []string {
	var out []string
	for _, m := range errRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func signaturePNG(t testing.TB) string {
	img := image.NewGray(image.Rect(0, 0, 60, 20))
	for x := 5; x < 55; x++ {
		img.Pix[10*img.Stride+x] = 0xff
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

func newUI(t testing.TB) (*Agent, *sim.Printer, *uiClient) {
	a := newTestAgent(t, Options{})
	dk, err := keys.NewDataKey()
	require.NoError(t, err)
	w, err := keys.Wrap(dk, []byte("richtige Passphrase"), keys.Params{Time: 1, MemKiB: 1024, Threads: 1})
	require.NoError(t, err)
	_, err = a.Store().AddCaseworker(t.Context(), "mmeier", w)
	require.NoError(t, err)
	pr, u := uiFor(t, a)
	return a, pr, u
}

// uiFor serves the UI of a (simulated devices) and logs mmeier in.
func uiFor(t testing.TB, a *Agent) (*sim.Printer, *uiClient) {
	pr := sim.NewPrinter()
	pr.PageTime = time.Millisecond
	b := a.WebBackend(WebDevices{Printer: pr, Scanner: simScanner(t, sim.ScannerOptions{FeederPages: 2, PageTime: time.Millisecond}), Reader: sim.NewReader(sim.ReaderOptions{}), Training: true})
	srv, err := web.New(web.Options{Backend: b, Logger: slog.New(slog.DiscardHandler), Now: a.now})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	u := &uiClient{b: b, t: t, base: ts.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	u.do(http.MethodGet, "/anmelden", nil)
	r := u.do(http.MethodPost, "/anmelden", url.Values{"name": {"mmeier"}, "passphrase": {"richtige Passphrase"}})
	require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
	u.do(http.MethodGet, "/", nil)
	return pr, u
}

func (u *uiClient) start(svc web.Service) string {
	u.t.Helper()
	r := u.do(http.MethodPost, "/vorgang", url.Values{"service": {string(svc)}})
	require.Equal(u.t, http.StatusSeeOther, r.status)
	r = u.do(http.MethodGet, r.location, nil)
	require.Equal(u.t, http.StatusSeeOther, r.status)
	return r.location
}

func personValues(extra ...string) url.Values {
	v := url.Values{"familienname": {"Beispiel"}, "vornamen": {"Hans"}, "geburtsdatum": {"01.03.1950"},
		"geburtsort": {"Bremen"}, "staatsangehoerigkeit": {"DEU"},
		"strasse": {"Lindenstraße"}, "hausnummer": {"4"}, "plz": {"28195"}, "ort": {"Bremen"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// finish prints the final document and seals; it returns the case id.
func (u *uiClient) finish(path string) string {
	u.t.Helper()
	r := u.step(path, "drucken", nil)
	require.Equal(u.t, http.StatusSeeOther, r.status, errorsOf(r.body))
	r = u.step(path, "versiegeln", nil)
	require.Equal(u.t, http.StatusSeeOther, r.status, errorsOf(r.body))
	done := u.do(http.MethodGet, r.location, nil)
	require.Contains(u.t, done.body, "abgeschlossen")
	return strings.Split(path, "/")[2]
}

func assertSealed(t *testing.T, a *Agent, id string) {
	t.Helper()
	c, err := a.Store().Case(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, store.StateSealed, c.State)
	assert.Positive(t, c.PacketSize, "a packet is in the outbox")
}

func TestWebUIWohnsitzanmeldungToSealedPacket(t *testing.T) {
	a, pr, u := newUI(t)
	p := u.start(web.Wohnsitzanmeldung)
	p = u.next(p, meldescheinValues(personValues("staatsangehoerigkeit", "ITA", "doktorgrad", "Dr.")))
	r := u.step(p, "weiter", url.Values{"neu_strasse": {"Ringweg"}, "neu_hausnummer": {"7"}, "neu_plz": {"2819"}, "neu_ort": {"Bremen"},
		"einzug": {a.now().AddDate(0, 0, -20).Format("02.01.2006")}, "wohnung": {"sole"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, errorsOf(r.body), "Die Postleitzahl muss fünf Ziffern haben.", "the rule of agent/cases, in German")
	// Moving in from abroad: the previous address needs no German postcode.
	p = u.next(p, url.Values{"neu_strasse": {"Ringweg"}, "neu_hausnummer": {"7"}, "neu_plz": {"28195"}, "neu_ort": {"Bremen"},
		"einzug": {a.now().AddDate(0, 0, -20).Format("02.01.2006")}, "wohnung": {"main"},
		"alt_strasse": {"Via Roma 3"}, "alt_plz": {"I-00184"}, "alt_ort": {"Roma"}, "alt_staat": {"ITA"},
		"weitere_strasse": {"Seeweg"}, "weitere_hausnummer": {"2"}, "weitere_plz": {"23966"}, "weitere_ort": {"Wismar"}})
	// A child moving in with the person: registered on the same Meldeschein.
	r = u.step(p, "weiter", url.Values{"mit1_beziehung": {"child"}, "mit1_familienname": {"Beispiel"}, "mit1_vornamen": {"Lio"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status, "a started slot is checked in full")
	p = u.next(p, url.Values{"mit1_beziehung": {"child"}, "mit1_familienname": {"Beispiel"}, "mit1_vornamen": {"Lio"},
		"mit1_geburtsdatum": {"30.08.2019"}, "mit1_geburtsort": {"Bremen"}, "mit1_staatsangehoerigkeit": {"ITA"},
		"mit1_geschlecht": {"diverse"}, "mit1_familienstand": {"single"}})
	r = u.step(p, "scannen", nil)
	require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
	p = u.next(p, url.Values{"vermieter_geprueft": {"ja"}})
	r = u.step(p, "drucken", nil)
	require.Equal(t, http.StatusSeeOther, r.status)
	p = u.next(p, url.Values{"formular_unterschrieben": {"ja"}})
	p = u.next(p, url.Values{"unterschrift": {signaturePNG(t)}})
	summary := u.do(http.MethodGet, p, nil)
	assert.Contains(t, summary.body, "später als zwei Wochen", "late registration flagged")
	id := u.finish(p)
	assertSealed(t, a, id)
	c, err := a.Store().Case(t.Context(), id)
	require.NoError(t, err)
	assert.True(t, c.Late)
	assert.Equal(t, []string{"Anmeldeformular", "Meldebestätigung"}, jobNames(t, pr))

	// The Meldebestätigung prints the § 24(2) data of each person registered, as captured:
	// the doctor title given, the dwelling kind asked; no birth place, no sex.
	text := pdfText(t, pr.Jobs()[1].Data)
	assert.Contains(t, text, "Die folgenden 2 Personen haben sich angemeldet")
	assert.Equal(t, 2, strings.Count(text, "Familienname"), text)
	assert.Regexp(t, `Doktorgrad\s+Dr\.`, text)
	assert.Equal(t, 1, strings.Count(text, "Doktorgrad"), "the child has none")
	assert.Regexp(t, `Vornamen\s+Lio`, text)
	assert.Regexp(t, `Wohnung\s+Hauptwohnung`, text)
	assert.Equal(t, 2, strings.Count(text, "Hauptwohnung"), "the child's dwelling is the registering person's")
	assert.NotContains(t, text, "Geburtsort")
	assert.NotContains(t, text, "Geschlecht")
	form := pdfText(t, pr.Jobs()[0].Data)
	for _, want := range []string{"Familienstand", "ledig", "Reisepass", "Roma, ITA", "Weitere Wohnung", "Mitziehende Person 1"} {
		assert.Contains(t, form, want, "the form the person signs shows the Meldeschein")
	}
}

// meldescheinValues adds the Meldeschein choices of a Wohnsitzanmeldung's first step.
func meldescheinValues(v url.Values) url.Values {
	for k, val := range map[string]string{"geschlecht": "male", "familienstand": "single", "ausweisart": "reisepass",
		"ausweisnummer": "C01X00T47", "ausweisbehoerde": "Stadt Bremen", "ausweis_ausgestellt": "01.06.2021",
		"ausweis_gueltig": "31.05.2031"} {
		v.Set(k, val)
	}
	return v
}

// pdfText is what poppler reads from a printed PDF.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext (poppler-utils) not installed")
	}
	cmd := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	require.NoError(t, err)
	return string(out)
}

func TestWebUIPersonalausweisToSealedPacket(t *testing.T) {
	a, pr, u := newUI(t)
	p := u.start(web.Personalausweis)
	r := u.step(p, "weiter", personValues("staatsangehoerigkeit", "AUT", "groesse", "170", "augenfarbe", "blau"))
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, errorsOf(r.body), "Einen Personalausweis erhalten nur Deutsche.")
	p = u.next(p, personValues("groesse", "170", "augenfarbe", "blau"))
	p = u.next(p, url.Values{"lichtbild_art": {"photographer"}, "lichtbild_code": {"DM:https://foto.example/x;id=1;key=k"}})
	for _, hand := range []string{"left", "right"} {
		for range 3 {
			page := u.do(http.MethodGet, p, nil)
			if strings.Contains(page.body, handCaptured(hand)) {
				break
			}
			r := u.step(p, "erfassen", url.Values{"finger": {hand + "_index"}})
			require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
		}
		if page := u.do(http.MethodGet, p, nil); !strings.Contains(page.body, handCaptured(hand)) {
			r := u.step(p, "accept", url.Values{"finger": {hand + "_index"}})
			require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
		}
	}
	p = u.next(p, nil)
	p = u.next(p, url.Values{"unterschrift": {signaturePNG(t)}})
	fee := u.do(http.MethodGet, p, nil)
	assert.Contains(t, fee.body, "46,00 EUR", "fee from the fee table of agent/cases")
	p = u.next(p, url.Values{"zahlart": {"cash"}})
	id := u.finish(p)
	assertSealed(t, a, id)
	atts, err := a.Store().Attachments(t.Context(), id)
	require.NoError(t, err)
	var kinds []string
	for _, at := range atts {
		kinds = append(kinds, at.Kind+":"+at.Finger)
	}
	assert.ElementsMatch(t, []string{"fingerprint:left_index", "fingerprint:right_index", "signature:"}, kinds,
		"one print per hand and the signature went into the packet")
	assert.Equal(t, []string{"Antragsquittung Personalausweis"}, jobNames(t, pr))
}

func handCaptured(hand string) string {
	return map[string]string{"left": "linker Zeigefinger erfasst", "right": "rechter Zeigefinger erfasst"}[hand]
}

func TestWebUILockForgetsTheDataKey(t *testing.T) {
	a, _, u := newUI(t)
	p := u.start(web.Lebensbescheinigung)
	_, err := a.DataKey()
	require.NoError(t, err)
	r := u.do(http.MethodPost, "/sperren", url.Values{"zurueck": {p}})
	require.Equal(t, "/gesperrt", r.location)
	_, err = a.DataKey()
	assert.ErrorIs(t, err, store.ErrNoKey, "a locked UI leaves no data key in memory")
	u.do(http.MethodGet, "/gesperrt", nil)
	r = u.do(http.MethodPost, "/gesperrt", url.Values{"passphrase": {"richtige Passphrase"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, p, r.location)
	page := u.do(http.MethodGet, p, nil)
	assert.Equal(t, http.StatusOK, page.status, "the draft is readable again")
}

// BenchmarkWebStepAgent measures one guided step end to end in the agent: the POST of the
// person step (validated by agent/cases, stored encrypted and fsynced by the store), the
// redirect and the rendering of the next page. The peer in the same run is the UI layer alone
// over the in-memory double (agent/web BenchmarkStepServerTime); here the ratio is against a
// plain GET of the same step page, which does no write.
func BenchmarkWebStepAgent(b *testing.B) {
	_, _, u := newUI(b)
	path := u.start(web.Lebensbescheinigung)
	var steps, reads []time.Duration
	for b.Loop() {
		t0 := time.Now()
		page := u.do(http.MethodGet, path, nil)
		reads = append(reads, time.Since(t0))
		form := personValues("versicherer", "Deutsche Rentenversicherung Bund", "aktenzeichen", "12 150350 B 004")
		form.Set("version", uiVersion.FindStringSubmatch(page.body)[1])
		form.Set("key", uiKey.FindStringSubmatch(page.body)[1])
		form.Set("aktion", "weiter")
		t0 = time.Now()
		r := u.do(http.MethodPost, path, form)
		if r.status != http.StatusSeeOther {
			b.Fatalf("step answered %d: %v", r.status, errorsOf(r.body))
		}
		u.do(http.MethodGet, r.location, nil)
		steps = append(steps, time.Since(t0))
	}
	p50, p99 := pct(steps)
	r50, r99 := pct(reads)
	b.ReportMetric(p50, "step-p50-ms")
	b.ReportMetric(p99, "step-p99-ms")
	b.ReportMetric(p50/r50, "p50/read")
	b.ReportMetric(p99/r99, "p99/read")
}

func pct(d []time.Duration) (p50, p99 float64) {
	slices.Sort(d)
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) / float64(time.Millisecond) }
	return at(0.5), at(0.99)
}

// jobNames lists what the simulated printer received, checking each is a rendered PDF.
func jobNames(t testing.TB, p *sim.Printer) []string {
	var names []string
	for _, j := range p.Jobs() {
		assert.True(t, bytes.HasPrefix(j.Data, []byte("%PDF-")), "job %q is a PDF", j.Name)
		names = append(names, j.Name)
	}
	return names
}

// TestWebUITechnik: the Technik page shows the doctor's checks in German, with the database
// and queue of this very kit in order.
func TestWebUITechnik(t *testing.T) {
	_, _, ui := newUI(t) // logged in
	r := ui.do(http.MethodGet, "/technik", nil)
	require.Equal(t, http.StatusOK, r.status)
	body := r.body
	assert.Contains(t, body, "<h1>Technik</h1>")
	assert.Contains(t, body, "Datenbank")
	assert.Contains(t, body, "Warteschlange")
	assert.Contains(t, body, "in Ordnung")
	assert.NotContains(t, body, ">database<", "check names are shown in German")
}

// TestLockDropsFingerprintImages: a capture below the threshold waits in memory for the
// operator; locking the UI or logging out drops it, and it cannot be kept afterwards.
// TestBelowThresholdCaptureDurable: a capture below the quality threshold waits for the
// operator's decision in the encrypted draft, not in memory: it survives a lock, a logout and
// a restart of the agent, and "keep" stores it as the finger's record.
func TestBelowThresholdCaptureDurable(t *testing.T) {
	for _, how := range []string{"/sperren", "/abmelden", "restart"} {
		t.Run(how, func(t *testing.T) {
			a, _, u := newUI(t)
			p := u.start(web.Personalausweis)
			p = u.next(p, personValues("groesse", "170", "augenfarbe", "blau"))
			p = u.next(p, url.Values{"lichtbild_art": {"photographer"}, "lichtbild_code": {"DM:https://foto.example/x;id=1;key=k"}})
			r := u.step(p, "erfassen", url.Values{"finger": {"left_index"}})
			require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
			id := strings.Split(p, "/")[2]
			atts, err := a.Store().Attachments(t.Context(), id)
			require.NoError(t, err)
			require.Empty(t, atts, "an estimate below the threshold is no fingerprint yet")

			switch how {
			case "restart":
				require.NoError(t, a.Close())
				var err error
				a, err = New(t.Context(), Options{DataDir: a.opts.DataDir, Training: true})
				require.NoError(t, err)
				t.Cleanup(func() { a.Close() })
				_, u = uiFor(t, a)
			case "/abmelden":
				u.do(http.MethodPost, how, nil)
				u.do(http.MethodGet, "/anmelden", nil)
				r = u.do(http.MethodPost, "/anmelden", url.Values{"name": {"mmeier"}, "passphrase": {"richtige Passphrase"}})
				require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
			default:
				u.do(http.MethodPost, how, url.Values{"zurueck": {p}})
				_, err := a.DataKey()
				require.ErrorIs(t, err, store.ErrNoKey, "locked: no key, so nothing of the capture is readable")
				u.do(http.MethodGet, "/gesperrt", nil)
				r = u.do(http.MethodPost, "/gesperrt", url.Values{"passphrase": {"richtige Passphrase"}})
				require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
			}
			r = u.step(p, "accept", url.Values{"finger": {"left_index"}})
			require.Equal(t, http.StatusSeeOther, r.status, errorsOf(r.body))
			atts, err = a.Store().Attachments(t.Context(), id)
			require.NoError(t, err)
			require.Len(t, atts, 1, "the kept capture is the finger's record")
			assert.Equal(t, "fingerprint", atts[0].Kind)
			assert.Equal(t, "left_index", atts[0].Finger)
		})
	}
}

// TestWebUISignatureWaiverSeals: "Person kann nicht unterschreiben" needs the reason, and then
// the registration seals without a signature, the waiver recorded in the packet.
func TestWebUISignatureWaiverSeals(t *testing.T) {
	a, _, u := newUI(t)
	p := u.start(web.Wohnsitzanmeldung)
	p = u.next(p, meldescheinValues(personValues()))
	p = u.next(p, url.Values{"neu_strasse": {"Ringweg"}, "neu_hausnummer": {"7"}, "neu_plz": {"28195"}, "neu_ort": {"Bremen"},
		"einzug": {a.now().AddDate(0, 0, -2).Format("02.01.2006")}, "wohnung": {"sole"}})
	p = u.next(p, nil) // nobody moves in with the person
	require.Equal(t, http.StatusSeeOther, u.step(p, "scannen", nil).status)
	p = u.next(p, url.Values{"vermieter_geprueft": {"ja"}})
	require.Equal(t, http.StatusSeeOther, u.step(p, "drucken", nil).status)
	p = u.next(p, url.Values{"formular_unterschrieben": {"ja"}})

	r := u.step(p, "weiter", url.Values{"unterschrift_verzicht": {"ja"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, errorsOf(r.body), "Bitte angeben, warum die Person nicht unterschreiben kann.")
	p = u.next(p, url.Values{"unterschrift_verzicht": {"ja"}, "unterschrift_verzicht_grund": {"Lähmung beider Hände"}})
	id := u.finish(p)

	_, got := openForm(t, a, id)
	require.NotNil(t, got.Details.SignatureWaiver)
	assert.Equal(t, "Lähmung beider Hände", got.Details.SignatureWaiver.Reason)
	for _, at := range got.Attachments {
		assert.NotEqual(t, "signature", at.Kind)
	}
}
