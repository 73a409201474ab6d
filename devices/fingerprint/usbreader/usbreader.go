// Package usbreader finds the supported fingerprint readers on USB and opens them with the
// driver of their family: the one place that knows every driver.
package usbreader

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"koffer/devices/fingerprint"
	"koffer/devices/fingerprint/upektc"
	"koffer/devices/fingerprint/uru4000"
	"koffer/devices/usb"
)

// Models returns every supported reader model.
func Models() []fingerprint.Model {
	ms := append([]fingerprint.Model(nil), upektc.Models...)
	ms = append(ms, uru4000.Models()...)
	slices.SortFunc(ms, func(a, b fingerprint.Model) int {
		return int(a.ID.Vendor)<<16 | int(a.ID.Product) - (int(b.ID.Vendor)<<16 | int(b.ID.Product))
	})
	return ms
}

// Lookup returns the model a device with id and release (bcdDevice) is.
func Lookup(id usb.ID, release uint16) (fingerprint.Model, bool) {
	for _, m := range Models() {
		if m.Matches(id, release) {
			return m, true
		}
	}
	return fingerprint.Model{}, false
}

// Found is an attached supported reader.
type Found struct {
	Model        fingerprint.Model
	Bus, Address int
	Serial       string
}

// Discover lists the attached supported readers, for `koffer devices` and the kit check.
// Only descriptors are read: it needs no access rights on the device nodes.
func Discover(ctx context.Context) ([]Found, error) {
	infos, err := usb.Enumerate(ctx, usb.EnumerateOptions{})
	if err != nil && len(infos) == 0 {
		return nil, fingerprint.TransferFail("usbreader: enumerate", err)
	}
	var found []Found
	for _, in := range infos {
		if m, ok := Lookup(in.ID, in.Release); ok {
			found = append(found, Found{Model: m, Bus: in.Bus, Address: in.Address, Serial: in.Serial})
		}
	}
	return found, nil
}

// Options tune Open. The zero value picks the first attached reader.
type Options struct {
	// ID selects a reader; zero means the first one Discover finds.
	ID     usb.ID
	Logger *slog.Logger
	// UruSeed overrides the U.are.U scramble seed (replay tests only).
	UruSeed func() uint32
}

// Reader is an open USB reader with its driver.
type Reader struct {
	Model fingerprint.Model
	dev   *usb.Device
	drv   fingerprint.Reader
}

var _ fingerprint.Reader = (*Reader)(nil)

// Open opens a supported reader.
func Open(ctx context.Context, opts Options) (*Reader, error) {
	id := opts.ID
	if id == (usb.ID{}) {
		found, err := Discover(ctx)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fingerprint.Failf(fingerprint.CodeNotFound, "usbreader: no supported reader attached")
		}
		id = found[0].Model.ID
	}
	if !slices.ContainsFunc(Models(), func(m fingerprint.Model) bool { return m.ID == id }) {
		return nil, fingerprint.Failf(fingerprint.CodeUnsupported, "usbreader: %s is no supported reader", id)
	}
	dev, err := usb.OpenDevice(id, usb.OpenOptions{Logger: opts.Logger})
	if err != nil {
		return nil, fingerprint.TransferFail("usbreader: open "+id.String(), err)
	}
	m, ok := Lookup(id, dev.Release())
	if !ok {
		dev.Close()
		return nil, fingerprint.Failf(fingerprint.CodeUnsupported, "usbreader: %s release %04x speaks a protocol koffer has no driver for", id, dev.Release())
	}
	r := &Reader{Model: m, dev: dev}
	switch m.Family {
	case "upektc":
		r.drv = upektc.New(dev, upektc.Options{Logger: opts.Logger})
	case "uru4000":
		d, err := uru4000.New(dev, uru4000.Options{Model: id, Seed: opts.UruSeed, Logger: opts.Logger})
		if err != nil {
			dev.Close()
			return nil, err
		}
		r.drv = d
	default:
		dev.Close()
		return nil, fmt.Errorf("usbreader: no driver for family %q", m.Family)
	}
	return r, nil
}

// Capture captures one image with the reader's driver.
func (r *Reader) Capture(ctx context.Context) (*fingerprint.Image, error) {
	return r.drv.Capture(ctx)
}

// Close releases the device.
func (r *Reader) Close() error { return r.dev.Close() }
