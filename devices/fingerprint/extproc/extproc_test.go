package extproc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/fingerprint"
)

const helperEnv = "KOFFER_EXTPROC_HELPER"

// TestMain lets the test binary act as the helper program: a real process over real pipes.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		helper(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func pngLine(w, h int) string {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for i := range g.Pix {
		g.Pix[i] = byte(i)
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, g)
	return fmt.Sprintf(`{"ok":true,"image":{"width":%d,"height":%d,"ppi":500,"png":"%s"}}`, w, h, base64.StdEncoding.EncodeToString(buf.Bytes()))
}

func helper(mode string) {
	sc := bufio.NewScanner(os.Stdin)
	n := 0
	for sc.Scan() {
		n++
		var req request
		if json.Unmarshal(sc.Bytes(), &req) != nil || req.Op != "capture" || req.TimeoutMs <= 0 {
			fmt.Println(`{"ok":false,"error":{"code":"protocol","message":"bad request"}}`)
			continue
		}
		switch mode {
		case "good":
			fmt.Println(pngLine(40, 30))
		case "no-finger-then-good":
			if n == 1 {
				fmt.Println(`{"ok":false,"error":{"code":"no-finger","message":"timeout"}}`)
			} else {
				fmt.Println(pngLine(40, 30))
			}
		case "garbage":
			fmt.Println(`{"ok":tru`)
		case "crash":
			os.Exit(3)
		case "silent":
			time.Sleep(time.Hour)
		case "color":
			var buf bytes.Buffer
			_ = png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 4, 4)))
			fmt.Printf(`{"ok":true,"image":{"width":4,"height":4,"ppi":500,"png":"%s"}}`+"\n", base64.StdEncoding.EncodeToString(buf.Bytes()))
		}
	}
}

func newHelperReader(t *testing.T, mode string) *Reader {
	t.Helper()
	t.Setenv(helperEnv, mode)
	r := New(Options{Path: os.Args[0], CaptureTimeout: 2 * time.Second})
	t.Cleanup(func() { r.Close() })
	return r
}

func TestCaptureThroughHelper(t *testing.T) {
	r := newHelperReader(t, "good")
	for range 2 { // the helper stays up between captures
		img, err := r.Capture(t.Context())
		require.NoError(t, err)
		assert.Equal(t, image.Rect(0, 0, 40, 30), img.Gray.Rect)
		assert.Equal(t, byte(41), img.Gray.Pix[41])
		assert.Equal(t, 500, img.PPI)
	}
}

func TestHelperFaults(t *testing.T) {
	tests := []struct {
		name string
		mode string
		code string
	}{
		{name: "helper reports no finger", mode: "no-finger-then-good", code: fingerprint.CodeNoFinger},
		{name: "garbage answer", mode: "garbage", code: fingerprint.CodeBadFrame},
		{name: "helper crashes", mode: "crash", code: fingerprint.CodeDevice},
		{name: "helper hangs", mode: "silent", code: fingerprint.CodeTimeout},
		{name: "colour image", mode: "color", code: fingerprint.CodeBadImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newHelperReader(t, tt.mode)
			ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
			defer cancel()
			start := time.Now()
			img, err := r.Capture(ctx)
			assert.Nil(t, img)
			assert.True(t, fingerprint.IsCode(err, tt.code), "%v", err)
			assert.Less(t, time.Since(start), 5*time.Second)
		})
	}
}

func TestHelperVerdictKeepsHelper(t *testing.T) {
	r := newHelperReader(t, "no-finger-then-good")
	_, err := r.Capture(t.Context())
	require.True(t, fingerprint.IsCode(err, fingerprint.CodeNoFinger))
	pid := r.cmd.Process.Pid
	img, err := r.Capture(t.Context())
	require.NoError(t, err, "the same helper answers the retry")
	assert.NotNil(t, img)
	assert.Equal(t, pid, r.cmd.Process.Pid)
}

func TestMissingHelper(t *testing.T) {
	r := New(Options{Path: "/nonexistent/koffer-helper"})
	_, err := r.Capture(t.Context())
	assert.True(t, fingerprint.IsCode(err, fingerprint.CodeNotFound), "%v", err)
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(pngLine(3, 2)))
	f.Add([]byte(`{"ok":false,"error":{"code":"retry","message":"moved"}}`))
	f.Add([]byte(`{"ok":true}`))
	f.Add([]byte(`{"ok":true,"image":{"width":1,"height":1,"ppi":500,"png":"!!"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := ParseResponse(b)
		if err != nil {
			if img != nil {
				t.Fatal("image with error")
			}
			return
		}
		if img.Gray == nil || img.Gray.Rect.Empty() {
			t.Fatal("empty image accepted")
		}
	})
}
