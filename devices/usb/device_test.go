package usb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/usb"
	"koffer/devices/usb/usbtest"
)

// TestDeadlinesUmockdev: a device that never answers (umockdev holds back any transfer the
// recording does not expect at this point) must end every transfer at its deadline, on the
// real gousb/libusb path.
func TestDeadlinesUmockdev(t *testing.T) {
	if usbtest.InChild() {
		t.Skip("parent side only")
	}
	dir := usbtest.FixtureDir(t, "libfprint/upektc_img")
	out := usbtest.RunUnderUmockdev(t, dir, "TestDeadlinesChild")
	assert.Contains(t, out, "--- PASS: TestDeadlinesChild/read")
	assert.Contains(t, out, "--- PASS: TestDeadlinesChild/write")
	assert.Contains(t, out, "--- PASS: TestDeadlinesChild/control")
}

func TestDeadlinesChild(t *testing.T) {
	if !usbtest.InChild() {
		t.Skip("runs only under umockdev-run (see TestDeadlinesUmockdev)")
	}
	dev, err := usb.OpenDevice(usb.ID{Vendor: 0x147e, Product: 0x2016}, usb.OpenOptions{})
	require.NoError(t, err)
	defer dev.Close()
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{name: "read", call: func(ctx context.Context) error {
			_, err := dev.Read(ctx, 0x81, make([]byte, 64))
			return err
		}},
		{name: "write", call: func(ctx context.Context) error {
			_, err := dev.Write(ctx, 0x02, []byte("not in the recording"))
			return err
		}},
		{name: "control", call: func(ctx context.Context) error {
			_, err := dev.Control(ctx, 0xc0, 0x77, 0, 0, make([]byte, 4))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tt.call(ctx)
			assert.True(t, errors.Is(err, usb.ErrTimeout), "want ErrTimeout, got %v", err)
			assert.Less(t, time.Since(start), 3*time.Second)
		})
	}
}
