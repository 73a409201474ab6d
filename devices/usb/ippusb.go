package usb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/gousb"
)

// BulkIn is the IN half of an IPP-over-USB interface; *gousb.InEndpoint satisfies it.
type BulkIn interface {
	ReadContext(ctx context.Context, buf []byte) (int, error)
}

// BulkOut is the OUT half of an IPP-over-USB interface; *gousb.OutEndpoint satisfies it.
type BulkOut interface {
	WriteContext(ctx context.Context, buf []byte) (int, error)
}

var (
	_ BulkIn  = (*gousb.InEndpoint)(nil)
	_ BulkOut = (*gousb.OutEndpoint)(nil)
)

// IPPInterface is one claimed IPP-over-USB interface (class 7, subclass 1, protocol 4): a
// pair of bulk endpoints that carries one HTTP connection.
type IPPInterface struct {
	In  BulkIn
	Out BulkOut
}

// IPPOptions configure an IPPTransport. Zero values mean the defaults noted.
type IPPOptions struct {
	// TransferTimeout bounds every single bulk transfer (default 30s: a printer may take its
	// time to answer a Print-Job).
	TransferTimeout time.Duration
	// DrainTimeout is how long a transfer may stay silent while stale input is drained from an
	// interface before it is used (default 100ms).
	DrainTimeout time.Duration
	Logger       *slog.Logger
}

// IPPTransport is an http.RoundTripper over IPP-over-USB interfaces: one HTTP/1.1 connection
// per interface, one exchange at a time on each. An exchange once started is always carried
// to its end, also when the caller gives up: a half-sent request or half-read response would
// leave the interface unusable, so cancellation only stops the caller waiting for it.
type IPPTransport struct {
	opts IPPOptions
	log  *slog.Logger
	idle chan *ippConn
}

var _ http.RoundTripper = (*IPPTransport)(nil)

type ippConn struct {
	id    int
	iface IPPInterface
	t     *IPPTransport
	r     *bufio.Reader
	stale bool // the last exchange failed: drain before next use
}

// NewIPPTransport returns a transport over the given interfaces.
func NewIPPTransport(ifaces []IPPInterface, opts IPPOptions) (*IPPTransport, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("ipp-usb: no interfaces")
	}
	if opts.TransferTimeout <= 0 {
		opts.TransferTimeout = 30 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t := &IPPTransport{opts: opts, log: opts.Logger.With("subsystem", "ippusb"), idle: make(chan *ippConn, len(ifaces))}
	for i, iface := range ifaces {
		c := &ippConn{id: i, iface: iface, t: t, stale: true}
		c.r = bufio.NewReaderSize(bulkReader{c}, 16<<10)
		t.idle <- c
	}
	return t, nil
}

// bulkReader reads IN transfers, each with its own deadline. Zero-length packets are skipped.
type bulkReader struct{ c *ippConn }

func (b bulkReader) Read(p []byte) (int, error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), b.c.t.opts.TransferTimeout)
		n, err := b.c.iface.In.ReadContext(ctx, p)
		cancel()
		if n > 0 || err != nil {
			return n, wrapUSB("bulk in", err)
		}
	}
}

// bulkWriter writes OUT transfers, each with its own deadline.
type bulkWriter struct{ c *ippConn }

func (b bulkWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		ctx, cancel := context.WithTimeout(context.Background(), b.c.t.opts.TransferTimeout)
		n, err := b.c.iface.Out.WriteContext(ctx, p[done:])
		cancel()
		done += n
		if err != nil {
			return done, wrapUSB("bulk out", err)
		}
		if n == 0 {
			return done, errors.New("ipp-usb: bulk out wrote nothing")
		}
	}
	return done, nil
}

func wrapUSB(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ipp-usb %s: %w", op, err)
}

// drain reads and drops whatever the device still has queued (a response nobody read),
// until the interface stays silent for DrainTimeout.
func (c *ippConn) drain() {
	c.r.Reset(bulkReader{c}) // drop buffered leftovers
	buf := make([]byte, 16<<10)
	dropped := 0
	for range 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), c.t.opts.DrainTimeout)
		n, err := c.iface.In.ReadContext(ctx, buf)
		cancel()
		dropped += n
		if err != nil || (n == 0 && ctx.Err() != nil) {
			break
		}
	}
	if dropped > 0 {
		c.t.log.Info("drained stale input", "interface", c.id, "bytes", dropped)
	}
	c.stale = false
}

// RoundTrip sends req over a free interface and returns its response. The body must be read
// or closed; closing drains the rest before the interface is used again.
func (t *IPPTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var c *ippConn
	select {
	case c = <-t.idle:
	case <-req.Context().Done():
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, req.Context().Err()
	}
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.exchange(req)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-req.Context().Done():
		// Never cancel halfway: let the exchange finish, then drain and free the interface.
		go func() {
			if r := <-done; r.err == nil {
				r.resp.Body.Close()
			}
		}()
		return nil, req.Context().Err()
	}
}

func (c *ippConn) exchange(req *http.Request) (*http.Response, error) {
	if c.stale {
		c.drain()
	}
	out := req.Clone(context.Background()) // the exchange does not stop with the caller
	out.Host = "localhost"
	out.Close = false
	w := bufio.NewWriterSize(bulkWriter{c}, 16<<10)
	err := out.Write(w)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		c.release(true)
		return nil, fmt.Errorf("send request: %w", err)
	}
	resp, err := http.ReadResponse(c.r, req)
	if err != nil {
		c.release(true)
		return nil, fmt.Errorf("read response: %w", err)
	}
	resp.Body = &drainBody{rc: resp.Body, c: c}
	return resp, nil
}

// release returns the interface to the pool; a failed one is drained before its next use.
func (c *ippConn) release(failed bool) {
	c.stale = c.stale || failed
	c.t.idle <- c
}

// drainBody frees the interface only after the whole response was read.
type drainBody struct {
	rc   io.ReadCloser
	c    *ippConn
	once sync.Once
	err  error
}

func (b *drainBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

func (b *drainBody) Close() error {
	b.once.Do(func() {
		_, err := io.Copy(io.Discard, b.rc)
		b.rc.Close()
		b.c.release(err != nil || b.err != nil)
	})
	return nil
}

// IPP-over-USB interface class (USB printer class, IPP over USB protocol).
const (
	classPrinter    = gousb.ClassPrinter
	subclassPrinter = 1
	protocolIPPUSB  = 4
)

// IPPDevice is an opened IPP-over-USB printer.
type IPPDevice struct {
	Vendor, Product gousb.ID
	Transport       *IPPTransport
	closers         []func() error
}

// Close releases every claimed interface and the device.
func (d *IPPDevice) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	return errors.Join(errs...)
}

// OpenIPPDevice claims every 7/1/4 interface of dev's active configuration and returns a
// transport over all of them. The caller closes the returned device (not dev).
func OpenIPPDevice(dev *gousb.Device, opts IPPOptions) (*IPPDevice, error) {
	num, err := dev.ActiveConfigNum()
	if err != nil {
		return nil, fmt.Errorf("active config: %w", err)
	}
	cfg, err := dev.Config(num)
	if err != nil {
		return nil, fmt.Errorf("open config %d: %w", num, err)
	}
	d := &IPPDevice{Vendor: dev.Desc.Vendor, Product: dev.Desc.Product, closers: []func() error{cfg.Close}}
	var ifaces []IPPInterface
	for _, id := range cfg.Desc.Interfaces {
		for _, alt := range id.AltSettings {
			if alt.Class != classPrinter || alt.SubClass != subclassPrinter || alt.Protocol != protocolIPPUSB {
				continue
			}
			iface, err := cfg.Interface(alt.Number, alt.Alternate)
			if err != nil {
				_ = d.Close()
				return nil, fmt.Errorf("claim interface %d: %w", alt.Number, err)
			}
			d.closers = append(d.closers, func() error { iface.Close(); return nil })
			var in *gousb.InEndpoint
			var out *gousb.OutEndpoint
			for _, ep := range alt.Endpoints {
				if ep.TransferType != gousb.TransferTypeBulk {
					continue
				}
				if ep.Direction == gousb.EndpointDirectionIn && in == nil {
					in, err = iface.InEndpoint(ep.Number)
				} else if ep.Direction == gousb.EndpointDirectionOut && out == nil {
					out, err = iface.OutEndpoint(ep.Number)
				}
				if err != nil {
					_ = d.Close()
					return nil, fmt.Errorf("endpoint %s: %w", ep.Address, err)
				}
			}
			if in != nil && out != nil {
				ifaces = append(ifaces, IPPInterface{In: in, Out: out})
			}
			break // one alternate setting per interface
		}
	}
	if len(ifaces) == 0 {
		_ = d.Close()
		return nil, errors.New("no ipp-over-usb interface")
	}
	t, err := NewIPPTransport(ifaces, opts)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	d.Transport = t
	return d, nil
}

// OpenIPPDevices opens every attached USB device with at least one IPP-over-USB interface.
func OpenIPPDevices(ctx *gousb.Context, opts IPPOptions) ([]*IPPDevice, error) {
	devs, err := ctx.OpenDevices(func(desc *gousb.DeviceDesc) bool {
		for _, cfg := range desc.Configs {
			for _, id := range cfg.Interfaces {
				for _, alt := range id.AltSettings {
					if alt.Class == classPrinter && alt.SubClass == subclassPrinter && alt.Protocol == protocolIPPUSB {
						return true
					}
				}
			}
		}
		return false
	})
	var out []*IPPDevice
	for _, dev := range devs {
		_ = dev.SetAutoDetach(true) // usblp may hold the printer's other interfaces
		d, derr := OpenIPPDevice(dev, opts)
		if derr != nil {
			err = errors.Join(err, derr)
			dev.Close()
			continue
		}
		d.closers = append([]func() error{dev.Close}, d.closers...)
		out = append(out, d)
	}
	return out, err
}
