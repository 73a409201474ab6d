package web_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/localapi"
	"koffer/agent/web"
	"koffer/agent/web/webtest"
)

// clock is an injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t     testing.TB
	fake  *webtest.Fake
	clock *clock
	srv   *httptest.Server
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	fake := webtest.New(t)
	fake.Now = clk.Now
	s, err := web.New(web.Options{Backend: fake, Now: clk.Now, Tick: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &harness{t: t, fake: fake, clock: clk, srv: srv}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	h    *harness
	c    *http.Client
	csrf string
}

func (h *harness) browser() *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(h.t, err)
	return &browser{h: h, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type resp struct {
	status   int
	location string
	body     string
	header   http.Header
}

var (
	csrfRE    = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	versionRE = regexp.MustCompile(`name="version" value="([0-9]+)"`)
	keyRE     = regexp.MustCompile(`name="key" value="([^"]+)"`)
)

func (b *browser) do(method, path string, form url.Values) resp {
	b.h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.h.srv.URL+path, body)
	require.NoError(b.h.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.c.Do(req)
	require.NoError(b.h.t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(b.h.t, err)
	r := resp{status: res.StatusCode, location: res.Header.Get("Location"), body: html.UnescapeString(string(data)), header: res.Header}
	if m := csrfRE.FindStringSubmatch(string(data)); m != nil {
		b.csrf = m[1]
	}
	return r
}

func (b *browser) get(path string) resp { return b.do(http.MethodGet, path, nil) }

// post sends a form with the current CSRF token.
func (b *browser) post(path string, form url.Values) resp {
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	return b.do(http.MethodPost, path, form)
}

func (b *browser) login() {
	b.h.t.Helper()
	r := b.get("/anmelden")
	require.Equal(b.h.t, http.StatusOK, r.status)
	r = b.post("/anmelden", url.Values{"name": {"anna"}, "passphrase": {"korrekt pferd batterie"}})
	require.Equal(b.h.t, http.StatusSeeOther, r.status, r.body)
	require.Equal(b.h.t, "/", r.location)
	b.get("/") // fresh CSRF token after the session rotated
}

// startCase creates a case and returns its first step's path and page.
func (b *browser) startCase(service web.Service, visit string) (string, resp) {
	b.h.t.Helper()
	r := b.post("/vorgang", url.Values{"service": {string(service)}, "visit": {visit}})
	require.Equal(b.h.t, http.StatusSeeOther, r.status, r.body)
	r = b.get(r.location)
	require.Equal(b.h.t, http.StatusSeeOther, r.status)
	path := r.location
	return path, b.get(path)
}

// step posts a step form using the version and key the page carries.
func (b *browser) step(path string, page resp, action string, form url.Values) resp {
	b.h.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	v := versionRE.FindStringSubmatch(page.body)
	k := keyRE.FindStringSubmatch(page.body)
	require.NotNil(b.h.t, v, "page has no version field: %s", page.body)
	form.Set("version", v[1])
	form.Set("key", k[1])
	form.Set("aktion", action)
	r := b.post(path, form)
	if r.status == http.StatusSeeOther && r.location == path+"?fehler=1" {
		return b.get(r.location) // a refused change: POST-redirect-GET to the step with its outcome
	}
	return r
}

// person is a complete person step.
func person(extra ...string) url.Values {
	v := url.Values{"familienname": {"Beispiel"}, "vornamen": {"Hans"}, "geburtsdatum": {"01.03.1950"},
		"geburtsort": {"Bremen"}, "staatsangehoerigkeit": {"DEU"},
		"strasse": {"Lindenstraße"}, "hausnummer": {"4"}, "plz": {"28195"}, "ort": {"Bremen"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

func TestCookieAttributes(t *testing.T) {
	h := newHarness(t)
	res, err := http.Get(h.srv.URL + "/anmelden")
	require.NoError(t, err)
	res.Body.Close()
	cookies := res.Cookies()
	require.Len(t, cookies, 1)
	assert.True(t, cookies[0].HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookies[0].SameSite)
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'self'")
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
}

func TestLoginNeedsCSRFAndPassphrase(t *testing.T) {
	tests := []struct {
		name       string
		csrf       string
		user, pass string
		status     int
		contains   string
	}{
		{name: "no token", csrf: "-", user: "anna", pass: "korrekt pferd batterie", status: http.StatusForbidden, contains: "Sicherheitsmerkmal"},
		{name: "wrong token", csrf: "falsch", user: "anna", pass: "korrekt pferd batterie", status: http.StatusForbidden, contains: "Sicherheitsmerkmal"},
		{name: "wrong passphrase", user: "anna", pass: "falsch", status: http.StatusUnauthorized, contains: "Name oder Passphrase stimmt nicht"},
		{name: "unknown user", user: "bernd", pass: "x", status: http.StatusUnauthorized, contains: "Name oder Passphrase stimmt nicht"},
		{name: "ok", user: "anna", pass: "korrekt pferd batterie", status: http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			b := h.browser()
			b.get("/anmelden")
			form := url.Values{"name": {tt.user}, "passphrase": {tt.pass}}
			switch tt.csrf {
			case "-":
				form.Set("csrf", "")
				r := b.do(http.MethodPost, "/anmelden", form)
				assert.Equal(t, tt.status, r.status)
				assert.Contains(t, r.body, tt.contains)
				return
			case "":
			default:
				form.Set("csrf", tt.csrf)
			}
			r := b.post("/anmelden", form)
			assert.Equal(t, tt.status, r.status)
			assert.Contains(t, r.body, tt.contains)
		})
	}
}

func TestPagesNeedLogin(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	for _, p := range []string{"/", "/vorgang/x", "/vorgang/x/person"} {
		r := b.get(p)
		assert.Equal(t, http.StatusSeeOther, r.status, p)
		assert.Equal(t, "/anmelden", r.location, p)
	}
	r := b.get("/status")
	assert.Equal(t, http.StatusUnauthorized, r.status)
}

func TestStateChangesRejectedWithoutCSRF(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Wohnsitzanmeldung, "v2")
	before, err := h.fake.Drafts(t.Context())
	require.NoError(t, err)

	form := url.Values{"csrf": {"gefaelscht"}, "service": {"meldebescheinigung"}}
	r := b.do(http.MethodPost, "/vorgang", form)
	assert.Equal(t, http.StatusForbidden, r.status)

	v := versionRE.FindStringSubmatch(page.body)
	r = b.do(http.MethodPost, path, url.Values{"version": {v[1]}, "aktion": {"weiter"}, "familienname": {"X"}})
	assert.Equal(t, http.StatusForbidden, r.status)

	// A cross-site request is refused even with the right token.
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/vorgang", strings.NewReader(url.Values{"csrf": {b.csrf}, "service": {"meldebescheinigung"}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := b.c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)

	after, err := h.fake.Drafts(t.Context())
	require.NoError(t, err)
	assert.Equal(t, before, after, "nothing may change without a valid token")
}

func TestForeignHostRefused(t *testing.T) {
	h := newHarness(t)
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+"/anmelden", nil)
	require.NoError(t, err)
	req.Host = "boese.example:80"
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, res.StatusCode)
}

func TestIdleLockKeepsDraftAndPendingInput(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Wohnsitzanmeldung, "v2")
	r := b.step(path, page, "weiter", person("geschlecht", "male", "familienstand", "single", "ausweisart", "reisepass",
		"ausweisnummer", "C01X00T47", "ausweisbehoerde", "Stadt Bremen", "ausweis_ausgestellt", "01.06.2021", "ausweis_gueltig", "31.05.2031"))
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	adresse := strings.TrimSuffix(r.location, "?ok=1")
	page = b.get(adresse)
	require.Equal(t, http.StatusOK, page.status)

	h.clock.Add(14 * time.Minute)
	assert.Equal(t, http.StatusOK, b.get(adresse).status, "not locked before 15 minutes")
	h.clock.Add(15 * time.Minute)

	// The caseworker typed the address, then left; the post arrives after the lock.
	r = b.step(adresse, page, "weiter", url.Values{"neu_strasse": {"Lindenstraße 4"}, "neu_plz": {"12345"}})
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/gesperrt", r.location)
	assert.Equal(t, 1, h.fake.Locks)
	r = b.get("/")
	assert.Equal(t, "/gesperrt", r.location, "every page is locked")
	assert.Equal(t, http.StatusUnauthorized, b.get("/status").status)

	locked := b.get("/gesperrt")
	require.Equal(t, http.StatusOK, locked.status)
	assert.Contains(t, locked.body, "Gesperrt")
	r = b.post("/gesperrt", url.Values{"passphrase": {"falsch"}})
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Contains(t, r.body, "Die Passphrase stimmt nicht")
	r = b.post("/gesperrt", url.Values{"passphrase": {"korrekt pferd batterie"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, adresse, r.location)

	restored := b.get(adresse)
	assert.Contains(t, restored.body, "wiederhergestellt")
	assert.Contains(t, restored.body, `value="Lindenstraße 4"`)

	drafts, err := h.fake.Drafts(t.Context())
	require.NoError(t, err)
	require.Len(t, drafts, 1)
	assert.Equal(t, "adresse", drafts[0].Step, "the saved step survived the lock")
	c, err := h.fake.Case(t.Context(), drafts[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "Beispiel", c.Values["person.family_name"])
}

func TestDoubleSubmitAndSecondTab(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Meldebescheinigung, "v1")
	form := person("familienname", "Mustermann")

	first := b.step(path, page, "weiter", form)
	require.Equal(t, http.StatusSeeOther, first.status, first.body)
	second := b.step(path, page, "weiter", form) // the same form again: same key, same version
	assert.Equal(t, http.StatusSeeOther, second.status)
	id := strings.Split(path, "/")[2]
	c, err := h.fake.Case(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, 2, c.Version, "the double submit was applied once")

	// A second tab still showing version 1 with a new key must not overwrite the newer draft.
	stale := strings.Replace(page.body, keyRE.FindStringSubmatch(page.body)[1], "anderer-tab", 1)
	r := b.step(path, resp{body: stale}, "weiter", person("familienname", "Anders"))
	assert.Equal(t, http.StatusConflict, r.status)
	assert.Contains(t, r.body, "in einem anderen Fenster")
	c, err = h.fake.Case(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, "Mustermann", c.Values["person.family_name"])
	assert.Equal(t, 2, c.Version)
}

func TestValidationErrorsAtTheField(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Wohnsitzanmeldung, "")
	r := b.step(path, page, "weiter", url.Values{"familienname": {"Muster"}, "geburtsdatum": {"1950-03-01"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, r.body, `id="e-vornamen"`)
	assert.Contains(t, r.body, "Vorname fehlt.", "the rule of agent/cases")
	assert.Contains(t, r.body, "Bitte als TT.MM.JJJJ eingeben")
	assert.Contains(t, r.body, `value="Muster"`, "what was typed stays")
	assert.NotContains(t, r.body, "invalid fields", "no English internals on screen")
}

func TestDeviceErrorShowsGermanHint(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	path, page := b.startCase(web.Lebensbescheinigung, "v2")
	r := b.step(path, page, "weiter", person("versicherer", "INPS", "aktenzeichen", "IT-1"))
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	scanPath := strings.TrimSuffix(r.location, "?ok=1")
	page = b.get(scanPath)

	r = b.step(scanPath, page, "weiter", url.Values{"persoenlich_unterschrieben": {"ja"}, "identitaet_geprueft": {"ja"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, r.body, "Bitte zuerst das Dokument scannen.")

	h.fake.FailScan(webtest.PrinterOutOfPaper)
	r = b.step(scanPath, page, "scannen", nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Contains(t, r.body, "Papier einlegen und auf Weiter tippen.")
	assert.Contains(t, r.body, "Später abschließen")
	assert.NotContains(t, r.body, "media-empty")
}

func TestUnknownCase(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	r := b.get("/vorgang/gibtsnicht")
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Contains(t, r.body, "Diesen Vorgang gibt es nicht")
}

func TestStartPage(t *testing.T) {
	h := newHarness(t)
	h.fake.SetOverview(web.Queue{Waiting: 3, Oldest: h.clock.Now().Add(-50 * time.Hour)},
		web.Uplink{Online: false, Detail: "Kein Mobilfunk."},
		[]web.Device{
			{Kind: "printer", State: localapi.DeviceFailed, Hint: "Papier einlegen und auf Weiter tippen."},
			{Kind: "scanner", State: localapi.DeviceReady},
			{Kind: "fingerprint", State: localapi.DeviceReady, Driver: "sim"},
		})
	b := h.browser()
	b.login()
	r := b.get("/")
	require.Equal(t, http.StatusOK, r.status)
	for _, want := range []string{
		"3 Vorgänge warten auf Übertragung, ältester seit 2 Tagen.",
		"Keine Verbindung zum Rathaus",
		"Drucker</strong>: braucht Aufmerksamkeit",
		"Papier einlegen und auf Weiter tippen.",
		"Erika Mustermann", "Seniorenheim Am Park",
		"Personalausweis beantragen",
	} {
		assert.Contains(t, r.body, want)
	}
}

func TestEventStreamPushesStatus(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a missing event fails, never hangs
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/ereignisse", nil)
	require.NoError(t, err)
	res, err := b.c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	buf := make([]byte, 256)
	n, err := res.Body.Read(buf)
	require.NoError(t, err)
	assert.Contains(t, string(buf[:n]), "event: bereit")

	h.fake.Publish(web.Event{Kind: "devices"})
	got := ""
	for !strings.Contains(got, "event: status") {
		n, err := res.Body.Read(buf)
		require.NoError(t, err)
		got += string(buf[:n])
	}
	assert.Contains(t, got, "data: devices")

	// The stream is passive: it does not keep the session awake, and tells the page to lock.
	h.clock.Add(16 * time.Minute)
	for !strings.Contains(got, "event: gesperrt") {
		n, err := res.Body.Read(buf)
		got += string(buf[:n])
		if err != nil {
			break
		}
	}
	assert.Contains(t, got, "event: gesperrt")
}

func TestQueueText(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		q    web.Queue
		want string
	}{
		{name: "empty", q: web.Queue{}, want: "Keine Vorgänge warten auf Übertragung."},
		{name: "one", q: web.Queue{Waiting: 1, Oldest: now.Add(-3 * time.Hour)}, want: "1 Vorgang wartet auf Übertragung, seit 3 Stunden."},
		{name: "three", q: web.Queue{Waiting: 3, Oldest: now.Add(-49 * time.Hour)}, want: "3 Vorgänge warten auf Übertragung, ältester seit 2 Tagen."},
		{name: "minutes", q: web.Queue{Waiting: 2, Oldest: now.Add(-time.Minute)}, want: "2 Vorgänge warten auf Übertragung, ältester seit 1 Minute."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, web.QueueText(tt.q, now))
		})
	}
}
