package agent

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/agent/web"
	"koffer/agent/web/webtest"
	"koffer/devices/sim"
	"koffer/store"
)

// testClock is the injected clock of the agent and its UI.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// twoCaseworkerUI is an agent with the caseworkers anna and bernd (both wrap the one data key)
// behind its real UI, on an injected clock.
func twoCaseworkerUI(t *testing.T) (*Agent, *WebBackend, *testClock, string) {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	a := newTestAgent(t, Options{Now: clk.Now})
	dk, err := keys.NewDataKey()
	require.NoError(t, err)
	for _, name := range []string{"anna", "bernd"} {
		w, err := keys.Wrap(dk, []byte("Passphrase von "+name), keys.Params{Time: 1, MemKiB: 1024, Threads: 1})
		require.NoError(t, err)
		_, err = a.Store().AddCaseworker(t.Context(), name, w)
		require.NoError(t, err)
	}
	dk.Wipe()
	pr := sim.NewPrinter()
	pr.PageTime = time.Millisecond
	b := a.WebBackend(WebDevices{Printer: pr, Scanner: simScanner(t, sim.ScannerOptions{FeederPages: 1, PageTime: time.Millisecond}),
		Reader: sim.NewReader(sim.ReaderOptions{}), Training: true})
	srv, err := web.New(web.Options{Backend: b, Logger: slog.New(slog.DiscardHandler), Now: clk.Now, Tick: 50 * time.Millisecond})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return a, b, clk, ts.URL
}

func startLebensbescheinigung(b *webtest.Browser, family string) string {
	b.T.Helper()
	b.Submit(`form:has(input[name="service"][value="lebensbescheinigung"]) button`, "Angaben zur Person", 15*time.Second)
	startLebensbescheinigungFields(b, family)
	return b.Eval(`location.pathname`)
}

func startLebensbescheinigungFields(b *webtest.Browser, family string) {
	b.T.Helper()
	b.FillAll(map[string]string{"familienname": family, "vornamen": "Hans", "geburtsdatum": "01.03.1950",
		"geburtsort": "Bremen", "staatsangehoerigkeit": "DEU", "strasse": "Lindenstraße", "hausnummer": "4",
		"plz": "28195", "ort": "Bremen", "versicherer": "Deutsche Rentenversicherung Bund"})
}

func caseID(path string) string { return strings.Split(path, "/")[2] }

// TestTwoCaseworkersIdleLockAndLogout: anna and bernd work side by side in two browser
// contexts (separate cookies) of one chromium. anna's idle lock leaves bernd's case editable
// and saving; bernd's logout leaves anna working; the key goes with the last one.
func TestTwoCaseworkersIdleLockAndLogout(t *testing.T) {
	a, backend, clk, base := twoCaseworkerUI(t)
	anna := webtest.NewBrowser(t, base, 3*time.Minute)
	bctx, cancel := chromedp.NewContext(anna.Ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	bernd := &webtest.Browser{T: t, Ctx: bctx, Base: base}

	anna.Login("anna", "Passphrase von anna")
	bernd.Login("bernd", "Passphrase von bernd")
	annaPath := startLebensbescheinigung(anna, "Annafall")
	anna.Fill("aktenzeichen", "A-1")
	anna.Next("Formular der Kasse")
	berndPath := startLebensbescheinigung(bernd, "Berndfall")

	// bernd keeps working; anna's tab sits idle until her lock comes.
	clk.Add(10 * time.Minute)
	bernd.Open(berndPath) // a request: bernd is active
	bernd.H1("Angaben zur Person", 10*time.Second)
	clk.Add(6 * time.Minute)
	anna.H1("Gesperrt", 10*time.Second)
	_, err := a.DataKey()
	require.NoError(t, err, "bernd is logged in: the data key stays")

	startLebensbescheinigungFields(bernd, "Berndfall")
	bernd.Fill("aktenzeichen", "B-1")
	bernd.Next("Formular der Kasse")
	c, err := backend.Case(t.Context(), caseID(berndPath))
	require.NoError(t, err)
	assert.Equal(t, "B-1", c.Values["details.reference"], "bernd's step was saved after anna's lock")
	assert.Equal(t, "formular", c.Step)

	// anna unlocks and goes on where she was.
	anna.Do(chromedp.SendKeys(chromedp.CSS("#passphrase"), "Passphrase von anna\r"))
	anna.H1("Formular der Kasse", 10*time.Second)

	// bernd logs out; anna keeps working and saving.
	bernd.Submit(`form[action="/abmelden"] button`, "Anmelden", 10*time.Second)
	_, err = a.DataKey()
	require.NoError(t, err, "anna is logged in: the data key stays")
	anna.Open(annaPath)
	anna.H1("Angaben zur Person", 10*time.Second)
	anna.Fill("aktenzeichen", "A-2")
	anna.Next("Formular der Kasse")
	c, err = backend.Case(t.Context(), caseID(annaPath))
	require.NoError(t, err)
	assert.Equal(t, "A-2", c.Values["details.reference"], "anna's step was saved after bernd's logout")

	// anna, the last one, locks: the key is gone.
	anna.Submit(`form[action="/sperren"] button`, "Gesperrt", 10*time.Second)
	_, err = a.DataKey()
	assert.ErrorIs(t, err, store.ErrNoKey, "the last lock forgets the data key")
}

// TestTwoCaseworkersKeyLifetime: the agent's wiring of the sessions without a browser: one
// caseworker's lock keeps the key for the other, the last one's lock or idle time forgets it,
// and an idle caseworker's request is refused while the other works.
func TestTwoCaseworkersKeyLifetime(t *testing.T) {
	a, backend, clk, _ := twoCaseworkerUI(t)
	ctx := t.Context()
	require.NoError(t, a.Login(ctx, "anna", []byte("Passphrase von anna")))
	require.NoError(t, a.Login(ctx, "bernd", []byte("Passphrase von bernd")))

	require.NoError(t, backend.Lock(ctx, "anna"))
	_, err := a.DataKey()
	require.NoError(t, err, "bernd still works")
	assert.ErrorIs(t, backend.Touch(ctx, "anna"), web.ErrLocked, "anna must unlock")
	require.NoError(t, backend.Touch(ctx, "bernd"))

	require.NoError(t, a.Login(ctx, "anna", []byte("Passphrase von anna")))
	clk.Add(10 * time.Minute)
	require.NoError(t, backend.Touch(ctx, "anna"))
	clk.Add(6 * time.Minute)
	assert.ErrorIs(t, backend.Touch(ctx, "bernd"), web.ErrLocked, "bernd idled out")
	_, err = a.DataKey()
	require.NoError(t, err, "anna is active")
	clk.Add(15 * time.Minute)
	_, err = a.DataKey()
	assert.ErrorIs(t, err, store.ErrNoKey, "both idle: the key is gone")
	st, err := a.Status(ctx)
	require.NoError(t, err)
	assert.False(t, st.Unlocked)
}
