package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/photo"
	"koffer/agent/photo/phototest"
	"koffer/agent/web"
	"koffer/agent/web/webtest"
	"koffer/devices/peer"
)

// TestBrowserOnSitePhotoPage: the camera page as the caseworker uses it (Chromium's fake
// camera playing the test face) passes the accessibility checks with the live preview and
// with the photo's preview, and the guide lies over the frame as photo.Guide does.
func TestBrowserOnSitePhotoPage(t *testing.T) {
	h := newHarness(t)
	exe := peer.Need(t, "chromium")[0]
	video := phototest.Y4MFile(t, phototest.Frame(phototest.Face(t), 640, 480, 1.05, 0.5, 0.5), 2)
	ctx := webtest.Chromium(t, exe, chromedp.Flag("lang", "de-DE"), chromedp.WindowSize(1366, 768),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", video))
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)))
	b := &Browser{t: t, ctx: ctx, base: strings.Replace(h.srv.URL, "127.0.0.1", "localhost", 1), shots: screenshotDir(t)}
	b.login()
	b.startVisit("Erika Mustermann", web.Personalausweis)
	b.h1("Angaben zur Person")
	b.fill("groesse", "164")
	b.choose("f-augenfarbe", "braun")
	b.next("Lichtbild")
	b.check("f-lichtbild_art-1")
	b.do(chromedp.Poll[chromedp.Void](`document.getElementById('kamera-video').videoWidth > 0`, chromedp.WithPollingTimeout(20*time.Second)))
	var hidden string
	b.eval(`String(document.getElementById('f-lichtbild_code').closest('.feld').hidden)`, &hidden)
	assert.Equal(t, "true", hidden, "the code field steps aside while the authority takes the photo")
	// The guide lies over the frame where photo.Guide puts it: the 35:45 rectangle as high as
	// the frame, centred, scaled to the video's shown size.
	var geo []string
	b.eval(`(() => { const v = document.getElementById('kamera-video').getBoundingClientRect();
		const g = document.querySelector('.schablone').getBoundingClientRect();
		return [(g.left - v.left) / v.width, g.width / v.width, (g.top - v.top) / v.height, g.height / v.height].map(String); })()`, &geo)
	want := photo.Guide(640, 480)
	require.Len(t, geo, 4)
	for i, w := range []float64{float64(want.Min.X) / 640, float64(want.Dx()) / 640, float64(want.Min.Y) / 480, float64(want.Dy()) / 480} {
		got, err := strconv.ParseFloat(geo[i], 64)
		require.NoError(t, err)
		assert.InDelta(t, w, got, 0.005, "guide coordinate %d", i)
	}
	b.a11y("kamera")
	b.shot("kamera")
	b.submit("#foto-aufnehmen", "Lichtbild")
	b.do(chromedp.WaitVisible(chromedp.CSS("#foto-vorschau img")))
	b.a11y("lichtbild-vorschau")
	b.shot("lichtbild-vorschau")
	b.next("Fingerabdrücke")
}
