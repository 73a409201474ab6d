package webtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
)

// Browser is a headless chromium (Debian's, driven by chromedp) with a fresh profile, clicking
// through the caseworker UI at Base as a caseworker would. Tests outside package web (the
// process-level real-kit test) use it; every action fails the test on error.
type Browser struct {
	T    testing.TB
	Ctx  context.Context
	Base string
}

// NewBrowser starts chromium for the test (skipping without it, failing under
// KOFFER_REQUIRE_PEERS=1), bounded by limit, and points it at base. extra adds options (the
// fake camera).
func NewBrowser(t testing.TB, base string, limit time.Duration, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	exe := peer.Need(t, "chromium")[0]
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "de-DE"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	ctx, cancelT := context.WithTimeout(ctx, limit)
	t.Cleanup(cancelT)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)))
	return &Browser{T: t, Ctx: ctx, Base: base}
}

// Do runs actions.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	require.NoError(b.T, chromedp.Do(b.Ctx, actions...))
}

// Open navigates to path.
func (b *Browser) Open(path string) { b.T.Helper(); b.Do(chromedp.Navigate(b.Base + path)) }

// H1 waits (up to wait) for a page whose heading contains text.
func (b *Browser) H1(text string, wait time.Duration) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, wait)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[contains(., %q)]`, text)))); err != nil {
		b.T.Fatalf("no heading %q on %s: %v\n%s", text, b.Eval(`location.pathname`), err, b.Eval(`document.body.innerText.slice(0, 600)`))
	}
}

// ClickText clicks the button or link whose text contains text.
func (b *Browser) ClickText(text string) {
	b.T.Helper()
	b.Do(chromedp.Click(chromedp.Search(fmt.Sprintf(`//*[self::button or self::a][contains(., %q)]`, text))))
}

// Fill types into the field f-NAME after clearing it.
func (b *Browser) Fill(name, value string) {
	b.T.Helper()
	b.Eval(fmt.Sprintf(`document.getElementById(%q).value = ''`, "f-"+name))
	b.Do(chromedp.SendKeys(chromedp.CSS("#f-"+name), value))
}

// FillAll fills every field of values.
func (b *Browser) FillAll(values map[string]string) {
	b.T.Helper()
	for name, v := range values {
		b.Fill(name, v)
	}
}

// Choose sets a select by its element id.
func (b *Browser) Choose(id, value string) {
	b.T.Helper()
	b.Do(chromedp.SetValue(chromedp.CSS("#"+id), value))
}

// Check ticks a checkbox or radio by clicking its label (the touch target).
func (b *Browser) Check(id string) {
	b.T.Helper()
	b.Do(chromedp.Click(chromedp.CSS(`label[for="` + id + `"]`)))
}

// Text is the text of the first element matching css.
func (b *Browser) Text(css string) string {
	b.T.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(css)))
	require.NoError(b.T, err)
	return s
}

// Eval evaluates js (awaiting a promise) and returns the result as text.
func (b *Browser) Eval(js string) string {
	b.T.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[any](js, chromedp.EvalAwaitPromise))
	require.NoError(b.T, err)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// Submit clicks a submit button and waits (up to wait: a device job may run) for the next
// page, which must show title.
func (b *Browser) Submit(css, title string, wait time.Duration) {
	b.T.Helper()
	b.Eval(`window.kofferAlt = 1`)
	b.Do(chromedp.Click(chromedp.CSS(css)))
	deadline := time.Now().Add(wait)
	for {
		gone, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`window.kofferAlt === undefined && document.readyState !== 'loading'`))
		if err == nil && gone {
			break
		}
		if time.Now().After(deadline) {
			b.T.Fatalf("no new page after %s (last error %v)", wait, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	b.H1(title, 15*time.Second)
}

// Next saves the step and waits for the next one.
func (b *Browser) Next(title string) {
	b.T.Helper()
	b.Submit(`button[value="weiter"]`, title, 20*time.Second)
}

// Login types name and passphrase on the login page.
func (b *Browser) Login(name, passphrase string) {
	b.T.Helper()
	b.Open("/anmelden")
	b.H1("Anmelden", 15*time.Second)
	b.Do(chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.KeyEvent(name), chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(passphrase), chromedp.KeyEvent("\r"))
	b.H1("Guten Tag", 15*time.Second)
}

// Sign draws a signature on the pad with the mouse.
func (b *Browser) Sign() {
	b.T.Helper()
	box := b.Eval(`(() => { document.getElementById('unterschrift-flaeche').scrollIntoView({block: 'center'});
		const r = document.getElementById('unterschrift-flaeche').getBoundingClientRect();
		return [r.left, r.top, r.width, r.height].join(','); })()`)
	var x, y, w, h float64
	_, err := fmt.Sscanf(box, "%g,%g,%g,%g", &x, &y, &w, &h)
	require.NoError(b.T, err)
	b.Do(chromedp.DragAndDropXY(x+w*0.1, y+h*0.7, x+w*0.5, y+h*0.3, 12),
		chromedp.DragAndDropXY(x+w*0.5, y+h*0.3, x+w*0.9, y+h*0.6, 12))
	require.Equal(b.T, "data:image/png;base64,", b.Eval(`document.getElementById('unterschrift').value.slice(0, 22)`), "the pad filled the hidden field")
}
