package usb

import (
	"fmt"

	"github.com/google/gousb"
)

// NewContext is gousb.NewContext without its panic when libusb cannot start (no usbfs, no
// permission): a missing USB subsystem is an error for the caller, never a crashed daemon.
func NewContext() (ctx *gousb.Context, err error) {
	defer func() {
		if r := recover(); r != nil {
			ctx, err = nil, fmt.Errorf("libusb init: %v: %w", r, ErrNotFound)
		}
	}()
	return gousb.NewContext(), nil
}
