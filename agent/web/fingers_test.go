package web

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFingerName(t *testing.T) {
	assert.Equal(t, "rechter Zeigefinger", FingerName("right_index"))
	assert.Equal(t, "linker Daumen", FingerName("left_thumb"))
	assert.Equal(t, "Linke Hand", HandName("left"))
	assert.Equal(t, "Anderer Grund", reasonLabel("other"))
}

// FuzzCameraFrame: the posted camera frame never panics the decoder, and what it accepts is
// exactly the base64 payload of a JPEG or PNG data URL.
func FuzzCameraFrame(f *testing.F) {
	f.Add("data:image/jpeg;base64,/9j/4AAQ")
	f.Add("data:image/png;base64,iVBORw0KGgo=")
	f.Add("data:image/gif;base64,R0lGOD")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		frame, hint := cameraFrame(v)
		if hint != "" {
			if frame != nil {
				t.Fatal("a frame and a hint")
			}
			return
		}
		if !strings.HasPrefix(v, "data:image/jpeg;base64,") && !strings.HasPrefix(v, "data:image/png;base64,") {
			t.Fatalf("accepted %q", v)
		}
		if len(frame) > maxFrame {
			t.Fatalf("frame of %d bytes", len(frame))
		}
	})
}
