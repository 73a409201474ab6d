// Package upektc drives the UPEK TouchChip swipe readers (147e:2016, 147e:2020) through their
// "Ciao" framed protocol: the host sends commands, the coprocessor answers with status frames
// and, while a finger swipes, image frames that together make a 144x384 image.
package upektc

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"time"

	"koffer/devices/fingerprint"
	"koffer/devices/usb"
)

// Models are the readers this driver handles. The same ids with other releases carry
// firmware that speaks another protocol, so the release is part of the match.
var Models = []fingerprint.Model{
	{ID: usb.ID{Vendor: 0x147e, Product: 0x2016}, Release: 0x0002, Name: "UPEK TouchChip Fingerprint Coprocessor", Family: "upektc"},
	{ID: usb.ID{Vendor: 0x147e, Product: 0x2020}, Release: 0x0001, Name: "UPEK TouchChip Fingerprint Coprocessor (TouchStrip)", Family: "upektc"},
}

const (
	epIn  = 0x81
	epOut = 0x02

	// Width and Height of the assembled image.
	Width  = 144
	Height = 384

	shortRead = 64   // every answer starts with a read of this size
	longRead  = 1988 // the rest of a large answer (image frames are 2052 bytes)
	ppi       = 500
)

// Frame types and payload commands of the protocol.
const (
	typeData      = 0x00 // payload[0] says what it is
	typeAwaitAck  = 0x08 // the device wants an ack before going on
	typeAck08     = 0x09
	cmdStatus     = 0x28
	cmdFrameFirst = 0x2c // image frame with 10 bytes of extra info
	cmdFrame      = 0x24
	cmdFrameLast  = 0x20
	cmdAckFrame   = 0x30

	firstFrameInfo = 10
	lastFrameTrail = 4

	statusByte      = 11 // payload index of the finger state in a status frame
	statusNoFinger  = 0x0c
	statusFinger    = 0x00
	statusTooShort  = 0x1e
	statusOffCentre = 0x1d
)

// Commands, as (frame type, payload). The sequence number is filled in when sent.
var (
	cmdInit1   = Frame{Type: 0x04, Payload: []byte{0x01, 0x00, 0x46, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00}}
	cmdInit2   = Frame{Type: 0x07, Payload: []byte{0x01}}
	cmdInit3   = Frame{Type: 0x04, Payload: []byte{0x01, 0x00, 0xbc, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00}}
	cmdInit4   = Frame{Type: typeData, Payload: []byte{cmdStatus, 0x04, 0x00, 0x00, 0x00, 0x06, 0x04}}
	cmdDeinit  = Frame{Type: 0x07, Payload: []byte{0x01}}
	cmdCapture = Frame{Type: typeData, Payload: []byte{cmdStatus, 0x0b, 0x00, 0x00, 0x00, 0x0e, 0x02,
		0xfe, 0xff, 0xff, 0xff, // device-side timeout: none
		0x02, 0x00, 0x02}}
	cmdAckStatus = Frame{Type: typeData, Payload: []byte{cmdStatus, 0x05, 0x00, 0x00, 0x00, 0x00, 0x30, 0x01}}
	cmdAck08     = Frame{Type: typeAck08}
	cmdNextFrame = Frame{Type: typeData, Payload: []byte{cmdAckFrame}}
)

// Options tune a Driver. The zero value uses the defaults.
type Options struct {
	// TransferTimeout bounds each command and answer (default 4 s).
	TransferTimeout time.Duration
	// FingerTimeout bounds the wait for a finger to swipe (default 60 s).
	FingerTimeout time.Duration
	Logger        *slog.Logger
}

// Driver captures from one TouchChip reader.
type Driver struct {
	t    fingerprint.Transport
	opts Options
	log  *slog.Logger
	seq  byte
	buf  []byte
}

var _ fingerprint.Reader = (*Driver)(nil)

// New returns a driver speaking over t (an open *usb.Device, interface 0).
func New(t fingerprint.Transport, opts Options) *Driver {
	if opts.TransferTimeout <= 0 {
		opts.TransferTimeout = 4 * time.Second
	}
	if opts.FingerTimeout <= 0 {
		opts.FingerTimeout = 60 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Driver{t: t, opts: opts, log: log.With("subsystem", "fingerprint", "driver", "upektc"), buf: make([]byte, shortRead+longRead)}
}

// Capture initialises the reader, waits for one swipe and returns the assembled image, then
// puts the reader back to rest. On any error no image is returned.
func (d *Driver) Capture(ctx context.Context) (*fingerprint.Image, error) {
	if err := d.activate(ctx); err != nil {
		return nil, err
	}
	img, err := d.capture(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.deactivate(ctx); err != nil {
		// The image is complete and every frame passed its CRC: keep it. The next capture
		// initialises the reader again.
		d.log.Warn("reader not put to rest after capture", "err", err)
	}
	return img, nil
}

func (d *Driver) activate(ctx context.Context) error {
	d.seq = 0
	// The answers to the init commands carry nothing the host needs (firmware version and
	// the like); they are read, checked as frames, and dropped.
	init := []struct {
		ctrl bool
		cmd  Frame
		seq  bool
	}{
		{ctrl: true}, {cmd: cmdInit1}, {cmd: cmdInit2},
		{ctrl: true}, {cmd: cmdInit3}, {cmd: cmdInit4, seq: true},
	}
	for _, s := range init {
		var err error
		switch {
		case s.ctrl:
			err = d.control(ctx)
		case s.seq:
			err = d.send(ctx, s.cmd, d.nextSeq())
		default:
			err = d.send(ctx, s.cmd, 0)
		}
		if err != nil {
			return err
		}
		if _, err := d.receive(ctx, d.opts.TransferTimeout); err != nil {
			return err
		}
	}
	return nil
}

func (d *Driver) deactivate(ctx context.Context) error {
	if err := d.send(ctx, cmdDeinit, d.nextSeq()); err != nil {
		return err
	}
	_, err := d.receive(ctx, d.opts.TransferTimeout)
	return err
}

// capture runs one swipe: ask for a finger, acknowledge status frames until image frames
// come, and collect them up to the last one.
func (d *Driver) capture(ctx context.Context) (*fingerprint.Image, error) {
	if err := d.send(ctx, cmdCapture, d.nextSeq()); err != nil {
		return nil, err
	}
	pix := make([]byte, 0, Width*Height)
	wait := d.opts.FingerTimeout
	for {
		f, err := d.receive(ctx, wait)
		if err != nil {
			if len(pix) == 0 && fingerprint.IsCode(err, fingerprint.CodeTimeout) && ctx.Err() == nil {
				// Silence before the first strip: nobody swiped.
				return nil, fingerprint.Fail(fingerprint.CodeNoFinger, err)
			}
			return nil, err
		}
		switch f.Type {
		case typeAwaitAck:
			if err := d.send(ctx, cmdAck08, 0); err != nil {
				return nil, err
			}
			continue
		case typeData:
		default:
			return nil, fingerprint.Failf(fingerprint.CodeUnexpected, "upektc: frame type %#02x during capture", f.Type)
		}
		if len(f.Payload) == 0 {
			return nil, fingerprint.Failf(fingerprint.CodeUnexpected, "upektc: empty data frame")
		}
		switch cmd := f.Payload[0]; cmd {
		case cmdStatus:
			if len(f.Payload) <= statusByte {
				return nil, fingerprint.Failf(fingerprint.CodeTruncated, "upektc: status frame of %d bytes", len(f.Payload))
			}
			switch st := f.Payload[statusByte]; st {
			case statusNoFinger, statusFinger:
				if err := d.send(ctx, cmdAckStatus, d.nextSeq()); err != nil {
					return nil, err
				}
			case statusTooShort:
				return nil, fingerprint.Failf(fingerprint.CodeRetry, "upektc: swipe too short")
			case statusOffCentre:
				return nil, fingerprint.Failf(fingerprint.CodeRetry, "upektc: too much sideways movement")
			default:
				return nil, fingerprint.Failf(fingerprint.CodeDevice, "upektc: scan aborted, status %#02x", st)
			}
		case cmdFrameFirst, cmdFrame, cmdFrameLast:
			wait = d.opts.TransferTimeout // the finger is on: frames follow at once
			data := f.Payload[1:]
			if cmd == cmdFrameFirst {
				if len(data) < firstFrameInfo {
					return nil, fingerprint.Failf(fingerprint.CodeTruncated, "upektc: first image frame of %d bytes", len(f.Payload))
				}
				data = data[firstFrameInfo:]
			}
			if cmd == cmdFrameLast {
				if len(data) < lastFrameTrail {
					return nil, fingerprint.Failf(fingerprint.CodeTruncated, "upektc: last image frame of %d bytes", len(f.Payload))
				}
				data = data[:len(data)-lastFrameTrail]
			}
			if len(pix)+len(data) > Width*Height {
				return nil, fingerprint.Failf(fingerprint.CodeBadImage, "upektc: image frames exceed %d bytes", Width*Height)
			}
			pix = append(pix, data...)
			if cmd == cmdFrameLast {
				if len(pix) != Width*Height {
					return nil, fingerprint.Failf(fingerprint.CodeBadImage, "upektc: image of %d bytes, want %d", len(pix), Width*Height)
				}
				gray := &image.Gray{Pix: pix, Stride: Width, Rect: image.Rect(0, 0, Width, Height)}
				return &fingerprint.Image{Gray: gray, PPI: ppi, Swipe: true}, nil
			}
			if err := d.send(ctx, cmdNextFrame, d.nextSeq()); err != nil {
				return nil, err
			}
		default:
			return nil, fingerprint.Failf(fingerprint.CodeUnexpected, "upektc: data frame %#02x during capture", cmd)
		}
	}
}

func (d *Driver) nextSeq() byte {
	s := d.seq & 0x0f
	d.seq++
	return s
}

// control is the vendor request that wakes the sensor before each init round.
func (d *Driver) control(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.TransferTimeout)
	defer cancel()
	if _, err := d.t.Control(ctx, 0x40, 0x0c, 0x0100, 0x0400, []byte{0}); err != nil {
		return fingerprint.TransferFail("upektc: wake sensor", err)
	}
	return nil
}

func (d *Driver) send(ctx context.Context, f Frame, seq byte) error {
	f.Seq = seq
	out := AppendFrame(nil, f)
	ctx, cancel := context.WithTimeout(ctx, d.opts.TransferTimeout)
	defer cancel()
	if _, err := d.t.Write(ctx, epOut, out); err != nil {
		return fingerprint.TransferFail("upektc: send", err)
	}
	return nil
}

// receive reads one answer frame: a short read, and for long frames the rest. Empty reads
// are retried within the same deadline.
func (d *Driver) receive(ctx context.Context, wait time.Duration) (Frame, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var n int
	for n == 0 {
		var err error
		if n, err = d.t.Read(ctx, epIn, d.buf[:shortRead]); err != nil {
			return Frame{}, fingerprint.TransferFail("upektc: receive", err)
		}
	}
	size, err := FrameSize(d.buf[:n])
	if err != nil {
		return Frame{}, frameFail(err)
	}
	if size > n {
		if n < shortRead {
			return Frame{}, fingerprint.Failf(fingerprint.CodeTruncated, "upektc: frame of %d bytes in a short packet of %d", size, n)
		}
		if size > len(d.buf) {
			return Frame{}, fingerprint.Failf(fingerprint.CodeBadFrame, "upektc: frame of %d bytes announced", size)
		}
		m, err := d.t.Read(ctx, epIn, d.buf[shortRead:shortRead+longRead])
		if err != nil {
			return Frame{}, fingerprint.TransferFail("upektc: receive rest", err)
		}
		n = shortRead + m
	}
	f, err := ParseFrame(d.buf[:n])
	if err != nil {
		return Frame{}, frameFail(err)
	}
	return f, nil
}

func frameFail(err error) error {
	switch {
	case errors.Is(err, errTruncated):
		return fingerprint.Fail(fingerprint.CodeTruncated, fmt.Errorf("upektc: %w", err))
	default:
		return fingerprint.Fail(fingerprint.CodeBadFrame, fmt.Errorf("upektc: %w", err))
	}
}
