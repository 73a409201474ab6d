package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"koffer/agent/localapi"
	"koffer/devices"
	"koffer/devices/escl"
	"koffer/devices/fingerprint"
	"koffer/devices/fingerprint/extproc"
	"koffer/devices/fingerprint/usbreader"
	"koffer/devices/inventory"
	"koffer/devices/ipp"
	"koffer/devices/profile"
	"koffer/devices/sim"
	"koffer/devices/usb"
)

// This file is the one place where the kit's devices are made: from the kit profile on a real
// kit, from devices/sim in training mode (and only there). Every real device is opened for each
// job and closed after it, so a device plugged in, swapped or switched on while the agent runs
// is used at the next job; one job at a time runs on each device.

// Device states of localapi.Device.
const (
	DeviceReady         = localapi.DeviceReady
	DeviceMissing       = localapi.DeviceMissing
	DeviceFailed        = localapi.DeviceFailed
	DeviceNotConfigured = localapi.DeviceNotConfigured
)

var kindNames = map[devices.Kind]string{devices.Printer: "Drucker", devices.Scanner: "Scanner", devices.Fingerprint: "Fingerabdruckleser"}

var kitKinds = []devices.Kind{devices.Printer, devices.Scanner, devices.Fingerprint}

// kitDevice is one device of the kit: what the profile says about it, its job lock and the
// outcome of its last job.
type kitDevice struct {
	kind    devices.Kind
	name    string
	driver  string // ipp, ipp-usb, escl, escl-usb, usb-reader, extproc, sim
	address string // URI, USB VID:PID or helper program
	usbID   usb.ID // zero unless on USB
	command []string
	log     *slog.Logger

	busy chan struct{} // one job at a time on this device
	bus  *sync.RWMutex // the kit's USB bus, for a device on USB; nil over the network

	mu      sync.Mutex
	lastErr error
}

func newKitDevice(kind devices.Kind, driver string, log *slog.Logger) *kitDevice {
	return &kitDevice{kind: kind, driver: driver, busy: make(chan struct{}, 1), log: log}
}

// job runs fn holding the device, waiting for a job before it as long as ctx allows.
func (d *kitDevice) job(ctx context.Context, fn func() error) error {
	select {
	case d.busy <- struct{}{}:
	case <-ctx.Done():
		return &devices.Error{Kind: d.kind, Code: string(d.kind) + ".busy",
			Hint: "Das Gerät ist noch mit einem anderen Auftrag beschäftigt. Bitte gleich noch einmal versuchen.", Err: ctx.Err()}
	}
	defer func() { <-d.busy }()
	if d.bus != nil {
		d.bus.RLock()
		defer d.bus.RUnlock()
	}
	err := fn()
	d.mu.Lock()
	d.lastErr = err
	d.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		d.log.Warn("deviceJobFailed", "kind", string(d.kind), "driver", d.driver, "code", devices.Code(err))
	}
	return err
}

// state is the device as the start page and `koffer status` show it.
func (d *kitDevice) state(attached map[usb.ID]bool) localapi.Device {
	out := localapi.Device{Kind: string(d.kind), Name: d.name, Driver: d.driver, Address: d.address, State: DeviceReady}
	d.mu.Lock()
	err := d.lastErr
	d.mu.Unlock()
	switch {
	case d.usbID != (usb.ID{}) && attached != nil && !attached[d.usbID]:
		out.State, out.Code = DeviceMissing, string(d.kind)+".usb-not-found"
		out.Hint = kindNames[d.kind] + " ist nicht angeschlossen. Bitte das Kabel prüfen und das Gerät einschalten."
	case err != nil:
		out.State, out.Code, out.Hint = DeviceFailed, devices.Code(err), devices.Hint(err)
	}
	return out
}

// kitDevices are the devices the agent built at start.
type kitDevices struct {
	web      WebDevices
	list     []*kitDevice
	attached func() []inventory.USBDevice // nil: not watched (training)
	close    func(context.Context) error
	// bus is shared by the jobs of USB devices and held alone by a hot-plug poll (holdBus).
	bus sync.RWMutex
}

// holdBus takes the USB bus for one hot-plug poll, unless a USB device job holds it: the
// poll's descriptor requests must not cut into a capture's or a print's transfers.
func (k *kitDevices) holdBus() (release func(), ok bool) {
	if !k.bus.TryLock() {
		return nil, false
	}
	return k.bus.Unlock, true
}

func (k *kitDevices) current() []inventory.USBDevice {
	if k.attached == nil {
		return nil
	}
	return k.attached()
}

// states lists every kind of device with its state: the list of the start page and of
// `koffer status --json`.
func (k *kitDevices) states() []localapi.Device {
	var attached map[usb.ID]bool // nil: not known (training, or before the first enumeration)
	if cur := k.current(); cur != nil {
		attached = map[usb.ID]bool{}
		for _, d := range cur {
			if id, err := usb.ParseID(d.ID); err == nil {
				attached[id] = true
			}
		}
	}
	out := []localapi.Device{}
	for _, kind := range kitKinds {
		found := false
		for _, d := range k.list {
			if d.kind == kind {
				out, found = append(out, d.state(attached)), true
			}
		}
		if !found {
			out = append(out, localapi.Device{Kind: string(kind), State: DeviceNotConfigured,
				Code: string(kind) + ".not-configured", Hint: "Kein " + kindNames[kind] + " eingerichtet. Bitte die Technik verständigen."})
		}
	}
	return out
}

// buildDevices makes the kit's devices: the simulators in training mode, else the first device
// of each kind in the profile. A kind the profile does not name stays nil: the UI says it is
// not set up, never a simulator.
func buildDevices(training bool, prof *profile.Profile, log *slog.Logger) (*kitDevices, error) {
	k := &kitDevices{close: func(context.Context) error { return nil }}
	if training {
		sc, err := sim.StartScanner(sim.ScannerOptions{})
		if err != nil {
			return nil, fmt.Errorf("training scanner: %w", err)
		}
		c, err := escl.New(sc.URL(), escl.Options{Logger: log})
		if err != nil {
			_ = sc.Close(context.Background())
			return nil, err
		}
		k.web = WebDevices{Training: true, Printer: sim.NewPrinter(), Scanner: ESCL{Client: c},
			Reader: sim.NewReader(sim.ReaderOptions{Delay: 300 * time.Millisecond})}
		k.close = sc.Close
		for _, kind := range kitKinds {
			d := newKitDevice(kind, "sim", log)
			d.name = "Simulation"
			k.list = append(k.list, d)
		}
		return k, nil
	}
	for _, kind := range kitKinds {
		entries := prof.Of(kind)
		if len(entries) == 0 {
			continue
		}
		d, err := profileDevice(entries[0], log)
		if err != nil {
			return nil, fmt.Errorf("kit profile: %s: %w", kind, err)
		}
		switch d.driver {
		case "usb-reader", "ipp-usb", "escl-usb", "extproc":
			d.bus = &k.bus
		}
		k.list = append(k.list, d)
		switch kind {
		case devices.Printer:
			k.web.Printer = profilePrinter{d}
		case devices.Scanner:
			k.web.Scanner = profileScanner{d}
		case devices.Fingerprint:
			k.web.Reader = profileReader{d}
		}
	}
	return k, nil
}

func profileDevice(e profile.Device, log *slog.Logger) (*kitDevice, error) {
	suffix := ""
	if !e.Network() && !e.Helper() {
		suffix = "-usb"
	}
	driver := map[devices.Kind]string{devices.Printer: "ipp", devices.Scanner: "escl", devices.Fingerprint: "usb-reader"}[e.Kind]
	if e.Kind == devices.Fingerprint {
		suffix = ""
		if e.Helper() {
			driver = "extproc"
		}
	}
	d := newKitDevice(e.Kind, driver+suffix, log.With("subsystem", string(e.Kind)))
	d.name = e.Name
	switch {
	case e.Helper():
		d.address, d.command = e.Command[0], e.Command
	case e.Network():
		d.address = e.URI
		if e.Kind == devices.Fingerprint {
			return nil, errors.New("a fingerprint reader is on usb or an SDK helper (command), not a uri")
		}
		if err := checkURI(e.Kind, e.URI); err != nil {
			return nil, err
		}
	default:
		d.address, d.usbID = e.USBID.String(), e.USBID
	}
	return d, nil
}

// checkURI refuses at start what could never work at the first job.
func checkURI(kind devices.Kind, uri string) error {
	var err error
	switch kind {
	case devices.Printer:
		_, err = ipp.New(uri, ipp.Options{})
	case devices.Scanner:
		_, err = escl.New(uri, escl.Options{})
	}
	return err
}

// transport opens d's IPP-over-USB interface for one job, or returns the network defaults.
func (d *kitDevice) transport(networkURI, usbURI string) (string, http.RoundTripper, func(), error) {
	if d.usbID == (usb.ID{}) {
		return networkURI, nil, func() {}, nil
	}
	rt, closeAll, err := usb.OpenIPP(d.kind, d.usbID, usb.IPPOptions{Logger: d.log})
	if err != nil {
		return "", nil, nil, err
	}
	return usbURI, rt, closeAll, nil
}

// profilePrinter is the profile's printer, over the network or IPP-over-USB.
type profilePrinter struct{ d *kitDevice }

var _ Printer = profilePrinter{}

func (p profilePrinter) Print(ctx context.Context, doc ipp.Document, onUpdate func(ipp.JobStatus)) (res ipp.Result, err error) {
	err = p.d.job(ctx, func() error {
		uri, rt, closeFn, err := p.d.transport(p.d.address, ipp.USBURI)
		if err != nil {
			return err
		}
		defer closeFn()
		c, err := ipp.New(uri, ipp.Options{Transport: rt, Logger: p.d.log})
		if err != nil {
			return err
		}
		res, err = c.Print(ctx, doc, onUpdate)
		return err
	})
	return res, err
}

// profileScanner is the profile's eSCL scanner, over the network or IPP-over-USB.
type profileScanner struct{ d *kitDevice }

var _ DocumentScanner = profileScanner{}

func (s profileScanner) ScanDocument(ctx context.Context) (doc []byte, err error) {
	err = s.d.job(ctx, func() error {
		uri, rt, closeFn, err := s.d.transport(s.d.address, escl.USBRoot)
		if err != nil {
			return err
		}
		defer closeFn()
		c, err := escl.New(uri, escl.Options{Transport: rt, Logger: s.d.log})
		if err != nil {
			return err
		}
		doc, err = ESCL{Client: c}.ScanDocument(ctx)
		return err
	})
	return doc, err
}

// profileReader is the profile's fingerprint reader: a USB reader of a supported family, or a
// vendor SDK behind an extproc helper.
type profileReader struct{ d *kitDevice }

var _ fingerprint.Reader = profileReader{}

func (r profileReader) Capture(ctx context.Context) (img *fingerprint.Image, err error) {
	err = r.d.job(ctx, func() error {
		var rd interface {
			fingerprint.Reader
			Close() error
		}
		if len(r.d.command) > 0 {
			rd = extproc.New(extproc.Options{Path: r.d.command[0], Args: r.d.command[1:], Logger: r.d.log})
		} else {
			u, err := usbreader.Open(ctx, usbreader.Options{ID: r.d.usbID, Logger: r.d.log})
			if err != nil {
				return err
			}
			rd = u
		}
		defer rd.Close()
		img, err = rd.Capture(ctx)
		return err
	})
	return img, err
}
