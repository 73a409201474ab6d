package photo_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/photo"
	"koffer/agent/photo/phototest"
	"koffer/devices/peer"
)

// capturePage grabs one camera frame through getUserMedia into a canvas and returns it as a
// PNG data URL: what the caseworker UI will send the agent.
const capturePage = `<!doctype html><video id=v autoplay muted playsinline></video><script>
window.grab = async () => {
  const s = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}});
  const v = document.getElementById('v');
  v.srcObject = s;
  await new Promise(r => v.onplaying = r);
  await new Promise(r => setTimeout(r, 300));
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0);
  s.getTracks().forEach(t => t.stop());
  return c.toDataURL('image/png');
};
</script>`

// grab plays video in Chromium's fake camera and returns the frame the page captured.
func grab(t *testing.T, video string) []byte {
	t.Helper()
	exe := peer.Need(t, "chromium")[0]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(capturePage))
	}))
	t.Cleanup(srv.Close)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", video),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelT)
	// Loopback http is a secure context, as the agent's UI is.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))))
	url, err := chromedp.Run(ctx, chromedp.Evaluate[string](`grab()`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	data, ok := strings.CutPrefix(url, "data:image/png;base64,")
	require.True(t, ok, "a PNG data URL, got %.40q", url)
	png, err := base64.StdEncoding.DecodeString(data)
	require.NoError(t, err)
	return png
}

// The generated y4m plays in Chromium's fake camera, and the frame a page captures from it
// through getUserMedia and a canvas passes the check and is cropped to 413×531; an empty
// wall gets the German hint.
func TestFakeCameraFrameMakesPhoto(t *testing.T) {
	face := phototest.Frame(phototest.Face(t), 640, 480, 1.05, 0.5, 0.5)
	frame := grab(t, phototest.Y4MFile(t, face, 2))
	cfg, _, err := image.DecodeConfig(bytes.NewReader(frame))
	require.NoError(t, err)
	assert.Equal(t, 640, cfg.Width)
	assert.Equal(t, 480, cfg.Height)
	p, err := photo.Take(bytes.NewReader(frame), photo.Adult)
	require.NoError(t, err)
	got, _, err := image.DecodeConfig(bytes.NewReader(p.JPEG))
	require.NoError(t, err)
	assert.Equal(t, image.Pt(photo.Width, photo.Height), image.Pt(got.Width, got.Height))

	wall := phototest.Frame(image.NewUniform(phototest.Background), 640, 480, 0, 0.5, 0.5)
	_, err = photo.Take(bytes.NewReader(grab(t, phototest.Y4MFile(t, wall, 2))), photo.Adult)
	var pe *photo.Error
	require.True(t, errors.As(err, &pe), "%v", err)
	assert.Equal(t, photo.CodeNoFace, pe.Code)
	assert.Contains(t, pe.Hint, "Kein Gesicht erkannt")
}
