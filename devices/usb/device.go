// Package usb is the kit's USB layer on top of github.com/google/gousb (libusb): opening a
// device by VID:PID, control, bulk and interrupt transfers that each carry a context deadline,
// enumeration for `koffer devices`, a scripted fake for fault tests, and IPP-over-USB.
package usb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/gousb"
)

// DefaultTransferTimeout bounds a transfer whose context carries no deadline: no USB call of
// the kit may wait forever.
const DefaultTransferTimeout = 5 * time.Second

// Transfer errors callers branch on. They wrap the libusb cause.
var (
	ErrTimeout   = errors.New("usb: transfer timed out")
	ErrStall     = errors.New("usb: endpoint stalled")
	ErrUnplugged = errors.New("usb: device unplugged")
	ErrNotFound  = errors.New("usb: device not found")
	ErrAccess    = errors.New("usb: access denied")
	ErrOverflow  = errors.New("usb: device sent more than asked")
)

// ID is a USB vendor:product pair.
type ID struct {
	Vendor, Product uint16
}

func (id ID) String() string { return fmt.Sprintf("%04x:%04x", id.Vendor, id.Product) }

// ParseID parses "147e:2016".
func ParseID(s string) (ID, error) {
	var id ID
	if _, err := fmt.Sscanf(s, "%04x:%04x", &id.Vendor, &id.Product); err != nil || len(s) != 9 {
		return ID{}, fmt.Errorf("parse usb id %q: want VID:PID in hex", s)
	}
	return id, nil
}

// OpenOptions tune OpenDevice. The zero value opens configuration 1, interface 0, alternate
// setting 0, and leaves kernel drivers attached.
type OpenOptions struct {
	Config    int // 0 means 1
	Interface int
	Alt       int
	// AutoDetach detaches a kernel driver bound to the interface. Leave it false under
	// umockdev: the detach ioctl is not part of a recording.
	AutoDetach bool
	Logger     *slog.Logger
}

// Device is an open USB device with one claimed interface.
type Device struct {
	ID     ID
	ctx    *gousb.Context
	dev    *gousb.Device
	cfg    *gousb.Config
	intf   *gousb.Interface
	log    *slog.Logger
	ctrlMu sync.Mutex // gousb's control timeout is a field of the device

	epMu sync.Mutex
	in   map[uint8]*gousb.InEndpoint
	out  map[uint8]*gousb.OutEndpoint
}

// OpenDevice opens the first device with id and claims its interface.
func OpenDevice(id ID, opts OpenOptions) (*Device, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("subsystem", "usb", "device", id.String())
	uctx, err := NewContext()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", id, err)
	}
	d := &Device{ID: id, ctx: uctx, log: log, in: map[uint8]*gousb.InEndpoint{}, out: map[uint8]*gousb.OutEndpoint{}}
	if err := d.open(opts); err != nil {
		d.Close()
		return nil, fmt.Errorf("open %s: %w", id, err)
	}
	log.Debug("usb device opened", "interface", opts.Interface)
	return d, nil
}

func (d *Device) open(opts OpenOptions) error {
	dev, err := d.ctx.OpenDeviceWithVIDPID(gousb.ID(d.ID.Vendor), gousb.ID(d.ID.Product))
	if err != nil {
		return usbErr(err)
	}
	if dev == nil {
		return ErrNotFound
	}
	d.dev = dev
	if opts.AutoDetach {
		if err := dev.SetAutoDetach(true); err != nil {
			return fmt.Errorf("auto detach: %w", usbErr(err))
		}
	}
	cfgNum := opts.Config
	if cfgNum == 0 {
		cfgNum = 1
	}
	if d.cfg, err = dev.Config(cfgNum); err != nil {
		return fmt.Errorf("config %d: %w", cfgNum, usbErr(err))
	}
	if d.intf, err = d.cfg.Interface(opts.Interface, opts.Alt); err != nil {
		return fmt.Errorf("interface %d: %w", opts.Interface, usbErr(err))
	}
	return nil
}

// Release returns the device's bcdDevice, which some families use to tell protocols apart.
func (d *Device) Release() uint16 { return uint16(d.dev.Desc.Device) }

// Close releases the interface and the device.
func (d *Device) Close() error {
	if d.intf != nil {
		d.intf.Close()
		d.intf = nil
	}
	if d.cfg != nil {
		d.cfg.Close()
		d.cfg = nil
	}
	if d.dev != nil {
		d.dev.Close()
		d.dev = nil
	}
	if d.ctx != nil {
		err := d.ctx.Close()
		d.ctx = nil
		return err
	}
	return nil
}

// Control performs a control transfer. The direction bit of rType decides whether data is
// sent or filled. It returns the bytes transferred.
func (d *Device) Control(ctx context.Context, rType, request uint8, value, index uint16, data []byte) (int, error) {
	timeout, err := xferBudget(ctx)
	if err != nil {
		return 0, err
	}
	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	d.dev.ControlTimeout = timeout
	n, err := d.dev.Control(rType, request, value, index, data)
	if err != nil {
		return n, fmt.Errorf("control %#02x/%#02x: %w", rType, request, usbErr(err))
	}
	return n, nil
}

// Read reads from the bulk or interrupt IN endpoint addr (0x81...) into buf, asking the
// device for exactly len(buf) bytes.
func (d *Device) Read(ctx context.Context, addr uint8, buf []byte) (int, error) {
	ep, err := d.inEndpoint(addr)
	if err != nil {
		return 0, err
	}
	ctx, cancel := xferContext(ctx)
	defer cancel()
	n, err := ep.ReadContext(ctx, buf)
	if err != nil {
		return n, fmt.Errorf("read ep %#02x: %w", addr, usbCtxErr(ctx, err))
	}
	return n, nil
}

// Write writes data to the bulk or interrupt OUT endpoint addr.
func (d *Device) Write(ctx context.Context, addr uint8, data []byte) (int, error) {
	ep, err := d.outEndpoint(addr)
	if err != nil {
		return 0, err
	}
	ctx, cancel := xferContext(ctx)
	defer cancel()
	n, err := ep.WriteContext(ctx, data)
	if err != nil {
		return n, fmt.Errorf("write ep %#02x: %w", addr, usbCtxErr(ctx, err))
	}
	return n, nil
}

func (d *Device) inEndpoint(addr uint8) (*gousb.InEndpoint, error) {
	d.epMu.Lock()
	defer d.epMu.Unlock()
	if ep, ok := d.in[addr]; ok {
		return ep, nil
	}
	ep, err := d.intf.InEndpoint(int(addr & 0x0f))
	if err != nil {
		return nil, fmt.Errorf("in endpoint %#02x: %w", addr, usbErr(err))
	}
	d.in[addr] = ep
	return ep, nil
}

func (d *Device) outEndpoint(addr uint8) (*gousb.OutEndpoint, error) {
	d.epMu.Lock()
	defer d.epMu.Unlock()
	if ep, ok := d.out[addr]; ok {
		return ep, nil
	}
	ep, err := d.intf.OutEndpoint(int(addr & 0x0f))
	if err != nil {
		return nil, fmt.Errorf("out endpoint %#02x: %w", addr, usbErr(err))
	}
	d.out[addr] = ep
	return ep, nil
}

// xferBudget is the time left for a synchronous transfer: the context's deadline, or
// DefaultTransferTimeout without one.
func xferBudget(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, usbCtxErr(ctx, err)
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return DefaultTransferTimeout, nil
	}
	left := time.Until(dl)
	if left <= 0 {
		return 0, ErrTimeout
	}
	if left < time.Millisecond {
		left = time.Millisecond // libusb reads 0 as "no timeout"
	}
	return left, nil
}

func xferContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTransferTimeout)
}

// usbCtxErr prefers the context's verdict: an expired deadline is a timeout whatever libusb
// reported for the cancelled transfer.
func usbCtxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: %v", ErrTimeout, err)
		}
		return fmt.Errorf("%w: %v", ctx.Err(), err)
	}
	return usbErr(err)
}

// usbErr turns libusb errors and transfer states into the package's sentinel errors.
func usbErr(err error) error {
	var le gousb.Error
	if errors.As(err, &le) {
		switch le {
		case gousb.ErrorTimeout:
			return fmt.Errorf("%w: %v", ErrTimeout, err)
		case gousb.ErrorPipe:
			return fmt.Errorf("%w: %v", ErrStall, err)
		case gousb.ErrorNoDevice:
			return fmt.Errorf("%w: %v", ErrUnplugged, err)
		case gousb.ErrorNotFound:
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		case gousb.ErrorAccess:
			return fmt.Errorf("%w: %v", ErrAccess, err)
		case gousb.ErrorOverflow:
			return fmt.Errorf("%w: %v", ErrOverflow, err)
		}
	}
	var ts gousb.TransferStatus
	if errors.As(err, &ts) {
		switch ts {
		case gousb.TransferTimedOut:
			return fmt.Errorf("%w: %v", ErrTimeout, err)
		case gousb.TransferStall:
			return fmt.Errorf("%w: %v", ErrStall, err)
		case gousb.TransferNoDevice:
			return fmt.Errorf("%w: %v", ErrUnplugged, err)
		case gousb.TransferOverflow:
			return fmt.Errorf("%w: %v", ErrOverflow, err)
		}
	}
	return err
}
