package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
	"koffer/sync/packet"
	"koffer/sync/receipt"
	"koffer/sync/townhall/backoffice/backofficetest"
	"koffer/sync/visit"
)

// lockedWriter lets the town hall's and the back office's loggers share one test stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// replica runs `townhall serve` (with the back office when staff is set) on the factory's data
// directory until the test ends, and returns the kits' and the staff's addresses.
func replica(t *testing.T, f *factory, staff *staffOptions) (kitURL, staffURL string) {
	t.Helper()
	ready, staffReady := make(chan string, 1), make(chan string, 1)
	opts := &serveOptions{f: f, ctx: t.Context(), listen: "127.0.0.1:0", ready: func(a string) { ready <- a }}
	if staff != nil {
		opts.staff = *staff
		opts.staff.ready = func(a string) { staffReady <- a }
	}
	done := make(chan error, 1)
	go func() { done <- serveRun(opts) }()
	t.Cleanup(func() { assert.NoError(t, <-done) })
	select {
	case a := <-ready:
		kitURL = "https://" + a
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	if staff != nil {
		staffURL = "https://" + <-staffReady
	}
	return kitURL, staffURL
}

func addStaff(t *testing.T, f *factory, name, role string) {
	t.Helper()
	pass := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(pass, []byte("korrekt pferd batterie\n"), 0o600))
	require.NoError(t, staffAddRun(&staffAddOptions{f: f, ctx: t.Context(), name: name, role: role, passFile: pass}))
}

func TestBackOfficeClerkHandsOverPersonalausweisAndBooksVisit(t *testing.T) {
	exe := peer.Need(t, "chromium")[0]
	onBackends(t, func(t *testing.T, f *factory) { testBackOfficeClerk(t, exe, f) })
}

func testBackOfficeClerk(t *testing.T, exe string, f *factory) {
	f.ErrOut = &lockedWriter{w: io.Discard}
	drop := t.TempDir()
	addStaff(t, f, "erika", "Sachbearbeitung")
	kitURL, staffURL := replica(t, f, &staffOptions{listen: "127.0.0.1:0", dropDir: drop, flagAfter: 14 * 24 * time.Hour, idleLock: 15 * time.Minute})

	// A kit delivers a Personalausweis through the real uplink and town hall.
	kit := enrollKit(t, f, "kit-1", kitURL)
	parts := personalausweis(t)
	caseID := kit.seal("personalausweis", "anna", parts)
	kit.waitFor("delivery", func() bool { return kit.item(caseID).delivered != nil })
	th, err := f.open(t.Context())
	require.NoError(t, err)
	defer th.Close()
	kit.waitFor("audit sent", func() bool { log, err := th.AuditLog(t.Context(), "kit-1"); return err == nil && len(log) == 1 })

	b := newBrowser(t, exe, staffURL)
	b.open("/anmelden")
	b.h1("Anmelden")
	b.a11y("login")
	b.shot("anmelden")
	b.fill("name", "erika")
	b.fill("passwort", "korrekt pferd batterie")
	b.submit(`button[type=submit]`, "Posteingang")
	b.a11y("inbox")
	b.shot("posteingang")
	assert.Contains(t, b.text("main"), "Personalausweis")

	b.submit(`a[href="/fall/`+caseID+`"]`, "Personalausweis")
	body := b.text("main")
	assert.Contains(t, body, "Müßiggang")
	assert.Contains(t, body, "rechter Zeigefinger")
	assert.Contains(t, body, "linker Zeigefinger")
	assert.Contains(t, body, "3 Versuch(e), Qualität 48", "the caseworker's attempts and quality")
	var loaded float64
	b.waitEval(`document.querySelectorAll('img.fingerbild').length === 2 && [...document.querySelectorAll('img.fingerbild')].every(i => i.complete && i.naturalWidth === 160 && i.naturalHeight === 200)`)
	b.eval(`[...document.querySelectorAll('img.unterschrift-bild, img.lichtbild')].filter(i => i.complete && i.naturalWidth > 0).length`, &loaded)
	assert.Equal(t, 2.0, loaded, "signature and photo shown")
	b.a11y("case")
	b.shot("fall")
	// Nothing personal may be kept by the browser.
	for _, path := range []string{"/fall/" + caseID, "/fall/" + caseID + "/datei/signature-4.png", "/fall/" + caseID + "/finger/fingerprint-2.fir/0"} {
		var cc string
		b.eval(fmt.Sprintf(`fetch(%q).then(r => r.headers.get('cache-control'))`, path), &cc)
		assert.Equal(t, "no-store", cc, path)
	}

	b.submit("#uebergeben", "Personalausweis")
	assert.Contains(t, b.text("main"), "an das Fachverfahren übergeben")
	entries, err := os.ReadDir(drop)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.True(t, strings.HasSuffix(entries[0].Name(), "_"+caseID+".zip"))
	zipped, err := os.ReadFile(filepath.Join(drop, entries[0].Name()))
	require.NoError(t, err)
	h, files := backofficetest.CheckHandover(t, zipped)
	assert.Equal(t, "anna", h["caseworker"], "the caseworker from the kit's audit log")
	assert.Equal(t, "erika", h["handed_over_by"])
	for _, p := range parts {
		assert.Equal(t, p.Data, files["files/"+p.Name], "%s byte for byte", p.Name)
	}

	// The fingerprints are gone at the town hall, and the page and the audit log say so.
	assert.Contains(t, b.text("#fingerabdruecke"), "2 Fingerabdruck-Datensätze wurden nach der Übergabe im Rathaus gelöscht")
	var imgs float64
	b.eval(`document.querySelectorAll('img.fingerbild').length`, &imgs)
	assert.Zero(t, imgs)
	b.shot("uebergeben")
	p, err := th.OpenCase(t.Context(), caseID)
	require.NoError(t, err)
	for _, part := range p.Parts {
		assert.NotEqual(t, packet.KindFingerprint, part.Kind)
	}
	b.submit(`a[href="/protokoll"]`, "Protokoll")
	log := b.text("#protokoll")
	assert.Contains(t, log, "Fingerabdrücke gelöscht")
	assert.Contains(t, log, "pauswg-26-2")
	assert.Contains(t, log, "an Fachverfahren übergeben")
	b.a11y("audit")
	b.shot("protokoll")

	// A visit booked in the form reaches the kit at its next sync.
	b.submit(`a[href="/besuche"]`, "Besuche buchen")
	b.a11y("visits")
	b.shot("besuche")
	b.do(chromedp.SetValue(chromedp.CSS("#koffer"), "kit-1"))
	// Tomorrow: the town hall drops packs whose day is over.
	day := time.Now().AddDate(0, 0, 1)
	for id, v := range map[string]string{"datum": day.Format("02.01.2006"), "uhrzeit": "09:30", "ort": "Pflegeheim Abendrot, Zimmer 12",
		"familienname": "Sonnenschein", "vornamen": "Gertrud", "geburtsdatum": "12.04.1936", "geburtsort": "Bremen",
		"strasse": "Lindenweg", "hausnummer": "7", "postleitzahl": "12345", "wohnort": "Musterstadt"} {
		b.fill(id, v)
	}
	b.check("l-meldebescheinigung")
	b.do(chromedp.SetValue(chromedp.CSS("#wohnungsart"), "alleinige Wohnung"))
	b.submit("#buchen", "Besuche buchen")
	assert.Contains(t, b.text("main"), "Der Termin ist gebucht")
	kit.waitFor("visit pack", func() bool { return len(kit.visitPacks()) == 1 })
	ca, err := receipt.ParseCA(kit.bundle.CAPEM)
	require.NoError(t, err)
	for _, sealed := range kit.visitPacks() {
		pack, _, err := visit.Open(sealed, kit.bundle.KitID, kit.visitKey, ca, time.Now())
		require.NoError(t, err)
		assert.Equal(t, day.Format(time.DateOnly), pack.Date)
		require.Len(t, pack.Appointments, 1)
		a := pack.Appointments[0]
		assert.Equal(t, "Sonnenschein", a.Person.FamilyName)
		assert.Equal(t, []string{"meldebescheinigung"}, a.Services)
		require.NotNil(t, a.Register)
		assert.Equal(t, "alleinige Wohnung", a.Register.Residences[0].Dwelling)
	}

	b.submit(`a[href="/flotte"]`, "Koffer")
	assert.Contains(t, b.text("main"), "kit-1")
	assert.NotContains(t, b.text("main"), "Koffer sperren", "only an administrator revokes")
	b.a11y("fleet")
	b.shot("koffer")

	// An administrator's button does what `townhall kit revoke` does.
	addStaff(t, f, "admin", "Administration")
	b.submit(`form[action="/abmelden"] button`, "Anmelden")
	b.fill("name", "admin")
	b.fill("passwort", "korrekt pferd batterie")
	b.submit(`button[type=submit]`, "Posteingang")
	b.submit(`a[href="/flotte"]`, "Koffer")
	b.a11y("fleet as administrator")
	b.do(chromedp.SetValue(chromedp.CSS("#grund-kit-1"), "gestohlen"))
	b.check("bestaetigt-kit-1")
	b.shot("sperren")
	b.submit(`form[action="/flotte/kit-1/sperren"] button`, "Koffer")
	assert.Contains(t, b.text("main"), "Der Koffer ist gesperrt")
	assert.Contains(t, b.text("main"), "gestohlen")
	b.a11y("fleet after revocation")
	b.shot("gesperrt")
	refused := kit.seal("wohnsitzanmeldung", "anna", []packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"wohnsitzanmeldung"}`)}})
	kit.waitFor("refusal", func() bool { return kit.item(refused).parked != "" })
	assert.Equal(t, receipt.CodeRevoked, kit.item(refused).parked)
	inbox, err := th.Inbox(t.Context())
	require.NoError(t, err)
	assert.Len(t, inbox, 1)
	require.NoError(t, th.VerifyTownhallAudit(t.Context()))
}

func TestRevokedKitIsRefusedByEveryReplica(t *testing.T) {
	onBackends(t, testRevokedKitIsRefusedByEveryReplica)
}

func testRevokedKitIsRefusedByEveryReplica(t *testing.T, f *factory) {
	f.ErrOut = &lockedWriter{w: io.Discard}
	urlA, _ := replica(t, f, nil)
	urlB, _ := replica(t, f, nil) // a second replica on the same metadata

	kit := enrollKit(t, f, "kit-1", urlA)
	before := kit.seal("wohnsitzanmeldung", "anna", []packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"wohnsitzanmeldung"}`)}})
	kit.waitFor("delivery", func() bool { return kit.item(before).delivered != nil })

	var out strings.Builder
	f.Out = &out
	require.Equal(t, exitOK, run(t.Context(), []string{"kit", "revoke", "kit-1", "--reason", "gestohlen"}, f))
	assert.Contains(t, out.String(), "kit kit-1 revoked")

	after := kit.seal("wohnsitzanmeldung", "anna", []packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"wohnsitzanmeldung"}`)}})
	kit.waitFor("refusal", func() bool { return kit.item(after).parked != "" })
	assert.Equal(t, receipt.CodeRevoked, kit.item(after).parked, "the kit is told why")

	for _, u := range []string{urlA, urlB} {
		cfg, err := kit.bundle.ClientTLS()
		require.NoError(t, err)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
		for _, path := range []string{"/v1/visits", "/v1/audit"} {
			resp, err := hc.Get(u + path)
			require.NoError(t, err)
			var pr receipt.Problem
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&pr))
			resp.Body.Close()
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, u+path)
			assert.Equal(t, receipt.CodeRevoked, pr.Code, u+path)
		}
	}

	th, err := f.open(t.Context())
	require.NoError(t, err)
	defer th.Close()
	inbox, err := th.Inbox(t.Context())
	require.NoError(t, err)
	require.Len(t, inbox, 1, "nothing the kit sent after the revocation reached the inbox")
	assert.Equal(t, before, inbox[0].CaseID)
	log, err := th.TownhallAudit(t.Context(), 10)
	require.NoError(t, err)
	require.NotEmpty(t, log)
	assert.Equal(t, "kitRevoked", log[0].Event)
	assert.Equal(t, "kit-1", log[0].KitID)

	// The kit is found again: an administrator explicitly allows what it sealed before the
	// revocation. Only such a packet is accepted, and audited; anything sealed later and
	// everything but delivery stay refused.
	fleet, err := th.Fleet(t.Context())
	require.NoError(t, err)
	revokedAt := fleet[0].RevokedAt
	require.Equal(t, exitOK, run(t.Context(), []string{"kit", "allow-sealed", "kit-1"}, f))
	early := kit.sealAt(func() time.Time { return revokedAt.Add(-time.Minute) }, "wohnsitzanmeldung", "anna",
		[]packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"wohnsitzanmeldung"}`)}})
	late := kit.seal("wohnsitzanmeldung", "anna", []packet.Part{{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"wohnsitzanmeldung"}`)}})
	kit.waitFor("early delivered, late refused", func() bool { return kit.item(early).delivered != nil && kit.item(late).parked != "" })
	assert.Equal(t, receipt.CodeRevoked, kit.item(late).parked)
	inbox, err = th.Inbox(t.Context())
	require.NoError(t, err)
	require.Len(t, inbox, 2)
	assert.Equal(t, early, inbox[1].CaseID)
	log, err = th.TownhallAudit(t.Context(), 10)
	require.NoError(t, err)
	assert.Equal(t, "caseAcceptedAfterRevocation", log[0].Event)
	assert.Equal(t, early, log[0].CaseID)
	assert.Equal(t, "sealedBeforeRevocationAllowed", log[1].Event)
	cfg, err := kit.bundle.ClientTLS()
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}).Get(urlB + "/v1/visits")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "no visit packs for a revoked kit")
}

// Browser is one headless chromium with a fresh profile (as in agent/web's browser tests).
type Browser struct {
	t     testing.TB
	ctx   context.Context
	base  string
	shots string
	n     int
}

func newBrowser(t testing.TB, exe, base string) *Browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The back office's self-signed certificate; staff browsers trust it once.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("lang", "de-DE"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	ctx, cancelT := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancelT)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)))
	dir := os.Getenv("KOFFER_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "web", "screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return &Browser{t: t, ctx: ctx, base: base, shots: dir}
}

func (b *Browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	require.NoError(b.t, chromedp.Do(b.ctx, actions...))
}

func (b *Browser) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

func (b *Browser) h1(text string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[contains(., %q)]`, text)))); err != nil {
		var body string
		b.eval(`document.body.innerText.slice(0, 400)`, &body)
		b.t.Fatalf("no heading %q: %v\n%s", text, err, body)
	}
}

func (b *Browser) fill(id, value string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`document.getElementById(%q).value = ''`, id), nil)
	b.do(chromedp.SendKeys(chromedp.CSS("#"+id), value))
}

func (b *Browser) check(id string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(`label[for="` + id + `"]`)))
}

// submit clicks and waits until the next page is loaded and shows title.
func (b *Browser) submit(css, title string) {
	b.t.Helper()
	b.eval(`window.kofferAlt = 1`, nil)
	b.do(chromedp.Click(chromedp.CSS(css)))
	b.waitEval(`window.kofferAlt === undefined && document.readyState === 'complete'`)
	b.h1(title)
}

// waitEval waits until js evaluates to true.
func (b *Browser) waitEval(js string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.shot("zeitueberschreitung")
			b.t.Fatalf("%s: not true after 20 s (last error %v)", js, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
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

func (b *Browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	b.n++
	file := fmt.Sprintf("%s-%02d-%s.png", strings.ReplaceAll(b.t.Name(), "/", "_"), b.n, name)
	require.NoError(b.t, os.WriteFile(filepath.Join(b.shots, file), png, 0o644))
}

// a11y asserts the page passes testdata/web/a11y.js: labels, contrast, touch targets, no
// horizontal scrolling.
func (b *Browser) a11y(where string) {
	b.t.Helper()
	js, err := os.ReadFile(filepath.Join("..", "..", "testdata", "web", "a11y.js"))
	require.NoError(b.t, err)
	var probs []string
	b.eval(string(js), &probs)
	assert.Empty(b.t, probs, "accessibility problems on %s", where)
}
