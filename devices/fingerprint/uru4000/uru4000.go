// Package uru4000 drives the DigitalPersona U.are.U 4000/4000B/4500 optical readers and the
// Microsoft readers built on them. The host drives a small register file over vendor control
// requests, learns about the finger from the interrupt endpoint, and reads one frame of
// 384x290 pixels from the bulk endpoint; newer firmware scrambles parts of that frame with a
// key stream the host must ask the reader for, and some models demand an AES
// challenge-response before they power up.
package uru4000

import (
	"context"
	"crypto/aes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"image"
	"log/slog"
	"time"

	"koffer/devices/fingerprint"
	"koffer/devices/usb"
)

const (
	epIntr = 0x81
	epData = 0x82

	// Width and Height of the frame.
	Width  = 384
	Height = 290

	headerLen = 64
	frameLen  = headerLen + Width*Height
	irqLen    = 64
	ppi       = 512

	ctrlRequest = 0x04
	ctrlOut     = 0x40 // vendor, host to device
	ctrlIn      = 0xc0 // vendor, device to host

	regHWStat     = 0x07
	regScrambleIx = 0x33
	regScrambleK  = 0x34
	regMode       = 0x4e
	regDeviceInfo = 0xf0
	regResponse   = 0x2000
	regChallenge  = 0x2010

	modeAwaitFingerOn  = 0x10
	modeAwaitFingerOff = 0x12
	modeCapture        = 0x20
	modeOff            = 0x70

	irqScanPowerOn = 0x56aa
	irqFingerOn    = 0x0101
	irqFingerOff   = 0x0200
	irqDeath       = 0x0800 // the next scan will likely fail

	blockChangeKey  = 0x80
	blockNoKeyStep  = 0x04
	blockEncrypted  = 0x02
	blockNotPresent = 0x01
	numBlocks       = 15

	// A plain frame's first two lines vary little; a scrambled one looks like noise.
	encryptedVariance = 5000
)

// Profile is what differs between the family's models.
type Profile struct {
	Name string
	// AuthCR: the reader challenges the host (AES) before it powers up.
	AuthCR bool
	// Rotated: the sensor delivers the image upside down and mirrored.
	Rotated bool
}

// Profiles are the supported models, keyed by USB id.
var Profiles = map[usb.ID]Profile{
	{Vendor: 0x045e, Product: 0x00bb}: {Name: "Microsoft Keyboard with Fingerprint Reader"},
	{Vendor: 0x045e, Product: 0x00bc}: {Name: "Microsoft Wireless IntelliMouse with Fingerprint Reader"},
	{Vendor: 0x045e, Product: 0x00bd}: {Name: "Microsoft Fingerprint Reader"},
	{Vendor: 0x045e, Product: 0x00ca}: {Name: "Microsoft Fingerprint Reader v2", AuthCR: true},
	{Vendor: 0x05ba, Product: 0x0007}: {Name: "DigitalPersona U.are.U 4000"},
	{Vendor: 0x05ba, Product: 0x0008}: {Name: "DigitalPersona U.are.U 4000 (keyboard)"},
	{Vendor: 0x05ba, Product: 0x000a}: {Name: "DigitalPersona U.are.U 4000B/4500", Rotated: true},
}

// U4500 is the id of the U.are.U 4000B/4500, the reader of registration kits.
var U4500 = usb.ID{Vendor: 0x05ba, Product: 0x000a}

// Models lists Profiles as fingerprint models.
func Models() []fingerprint.Model {
	ms := make([]fingerprint.Model, 0, len(Profiles))
	for id, p := range Profiles {
		ms = append(ms, fingerprint.Model{ID: id, Name: p.Name, Family: "uru4000"})
	}
	return ms
}

// The AES key second-generation Microsoft readers expect the challenge encrypted with.
var crKey = []byte{0x79, 0xac, 0x91, 0x79, 0x5c, 0xa1, 0x47, 0x8e, 0x98, 0xe0, 0x0f, 0x3c, 0x59, 0x8f, 0x5f, 0x4b}

// Options tune a Driver. The zero value drives a U.are.U 4500 with the default timeouts.
type Options struct {
	Model usb.ID
	// Seed returns the host's share of the scramble key (a fresh random value by default).
	Seed func() uint32
	// TransferTimeout bounds each control and bulk transfer (default 5 s).
	TransferTimeout time.Duration
	// FingerTimeout bounds the wait for a finger (default 60 s).
	FingerTimeout time.Duration
	// FingerOffTimeout bounds the wait for the finger to lift after the scan (default 5 s);
	// the image is kept when it passes.
	FingerOffTimeout time.Duration
	// PowerTimeout bounds the wait for the scanner to report power (default 1 s).
	PowerTimeout time.Duration
	Logger       *slog.Logger
}

// Driver captures from one reader of the family.
type Driver struct {
	t       fingerprint.Transport
	opts    Options
	profile Profile
	log     *slog.Logger
}

var _ fingerprint.Reader = (*Driver)(nil)

// New returns a driver speaking over t (the reader's vendor interface, class ff/ff/ff).
func New(t fingerprint.Transport, opts Options) (*Driver, error) {
	if opts.Model == (usb.ID{}) {
		opts.Model = U4500
	}
	p, ok := Profiles[opts.Model]
	if !ok {
		return nil, fingerprint.Failf(fingerprint.CodeUnsupported, "uru4000: unknown model %s", opts.Model)
	}
	if opts.Seed == nil {
		opts.Seed = randomSeed
	}
	if opts.TransferTimeout <= 0 {
		opts.TransferTimeout = 5 * time.Second
	}
	if opts.FingerTimeout <= 0 {
		opts.FingerTimeout = 60 * time.Second
	}
	if opts.FingerOffTimeout <= 0 {
		opts.FingerOffTimeout = 5 * time.Second
	}
	if opts.PowerTimeout <= 0 {
		opts.PowerTimeout = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Driver{t: t, opts: opts, profile: p, log: log.With("subsystem", "fingerprint", "driver", "uru4000", "model", opts.Model.String())}, nil
}

func randomSeed() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:]) & 0x7fffffff
}

type irq struct {
	typ uint16
	err error
}

// Capture powers the reader up, waits for a finger, reads and decodes one frame, waits
// briefly for the finger to lift and powers the reader down. On any error no image is
// returned.
func (d *Driver) Capture(ctx context.Context) (*fingerprint.Image, error) {
	// The interrupt endpoint is read for the whole session, as the reader expects a pending
	// interrupt transfer while it is driven; the session has an overall deadline.
	budget := d.opts.PowerTimeout + d.opts.FingerTimeout + d.opts.FingerOffTimeout + 10*d.opts.TransferTimeout
	sctx, cancel := context.WithTimeout(ctx, budget)
	irqs := make(chan irq, 32)
	done := make(chan struct{})
	go d.readInterrupts(sctx, irqs, done)
	defer func() {
		cancel()
		<-done
	}()

	img, err := d.session(sctx, irqs)
	if err != nil {
		d.powerOffBestEffort(ctx)
		return nil, err
	}
	return img, nil
}

func (d *Driver) session(ctx context.Context, irqs <-chan irq) (*fingerprint.Image, error) {
	if err := d.powerUp(ctx, irqs); err != nil {
		return nil, err
	}
	info, err := d.readRegs(ctx, regDeviceInfo, 16)
	if err != nil {
		return nil, err
	}
	d.log.Debug("reader versions", "hardware", fmt.Sprintf("%02x%02x", info[10], info[11]), "firmware", fmt.Sprintf("%02x%02x", info[4], info[5]))
	if err := d.writeReg(ctx, regMode, modeAwaitFingerOn); err != nil {
		return nil, err
	}
	if err := d.waitIRQ(ctx, irqs, irqFingerOn, d.opts.FingerTimeout, fingerprint.CodeNoFinger); err != nil {
		return nil, err
	}
	img, err := d.scan(ctx)
	if err != nil {
		return nil, err
	}
	// The image is complete and decoded: what follows only puts the reader to rest, and its
	// failure does not cost the citizen another attempt.
	if err := d.rest(ctx, irqs); err != nil {
		d.log.Warn("reader not put to rest after capture", "err", err)
	}
	return img, nil
}

// rest waits briefly for the finger to lift and switches the scanner off.
func (d *Driver) rest(ctx context.Context, irqs <-chan irq) error {
	if err := d.writeReg(ctx, regMode, modeAwaitFingerOff); err != nil {
		return err
	}
	if err := d.waitIRQ(ctx, irqs, irqFingerOff, d.opts.FingerOffTimeout, fingerprint.CodeTimeout); err != nil {
		if !fingerprint.IsCode(err, fingerprint.CodeTimeout) {
			return err
		}
		d.log.Info("finger not lifted after scan")
	}
	return d.writeReg(ctx, regMode, modeOff)
}

func (d *Driver) powerOffBestEffort(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
	defer cancel()
	_ = d.writeReg(ctx, regMode, modeOff)
}

func (d *Driver) readInterrupts(ctx context.Context, out chan<- irq, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, irqLen)
	for {
		n, err := d.t.Read(ctx, epIntr, buf)
		if err == nil && n < 2 {
			err = fingerprint.Failf(fingerprint.CodeTruncated, "uru4000: interrupt of %d bytes", n)
		}
		ev := irq{err: err}
		if err == nil {
			ev.typ = binary.BigEndian.Uint16(buf)
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// waitIRQ waits for an interrupt of type want; others are ignored (the reader repeats
// "scan power on" while idle).
func (d *Driver) waitIRQ(ctx context.Context, irqs <-chan irq, want uint16, wait time.Duration, code string) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case ev := <-irqs:
			if ev.err != nil {
				return fingerprint.TransferFail("uru4000: interrupt", ev.err)
			}
			if ev.typ == want {
				return nil
			}
			if ev.typ == irqDeath {
				d.log.Warn("reader announced a failing scan")
			}
		case <-timer.C:
			return fingerprint.Failf(code, "uru4000: no interrupt %#04x within %s", want, wait)
		case <-ctx.Done():
			return fingerprint.TransferFail("uru4000: wait for interrupt", ctx.Err())
		}
	}
}

// powerUp brings the reader from whatever state into scan power: out of a confused state if
// needed, down, and up again until the low-power bit clears and the reader says so.
func (d *Driver) powerUp(ctx context.Context, irqs <-chan irq) error {
	hw, err := d.readReg(ctx, regHWStat)
	if err != nil {
		return err
	}
	if hw&0x84 == 0x84 {
		if hw, err = d.rebootPower(ctx, hw); err != nil {
			return err
		}
	}
	if hw&0x80 == 0 {
		if err := d.writeReg(ctx, regHWStat, hw|0x80); err != nil {
			return err
		}
	}
	want := hw & 0x0f
	for i := 0; ; i++ {
		if err := d.writeReg(ctx, regHWStat, want); err != nil {
			return err
		}
		if hw, err = d.readReg(ctx, regHWStat); err != nil {
			return err
		}
		if hw&0x80 == 0 {
			break
		}
		if i == 99 {
			return fingerprint.Failf(fingerprint.CodeDevice, "uru4000: reader does not power up (hwstat %#02x)", hw)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
		if d.profile.AuthCR {
			if err := d.challengeResponse(ctx); err != nil {
				return err
			}
		}
	}
	return d.waitIRQ(ctx, irqs, irqScanPowerOn, d.opts.PowerTimeout, fingerprint.CodeTimeout)
}

func (d *Driver) rebootPower(ctx context.Context, hw byte) (byte, error) {
	if err := d.writeReg(ctx, regHWStat, hw&0x0f); err != nil {
		return 0, err
	}
	for range 100 {
		v, err := d.readReg(ctx, regHWStat)
		if err != nil {
			return 0, err
		}
		if v&0x01 != 0 {
			return v, nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return 0, fingerprint.Failf(fingerprint.CodeDevice, "uru4000: reader does not come out of its error state")
}

func (d *Driver) challengeResponse(ctx context.Context) error {
	challenge, err := d.readRegs(ctx, regChallenge, aes.BlockSize)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(crKey)
	if err != nil {
		return fmt.Errorf("uru4000: challenge cipher: %w", err)
	}
	resp := make([]byte, aes.BlockSize)
	block.Encrypt(resp, challenge) // one block: ECB
	return d.writeRegs(ctx, regResponse, resp)
}

// scan switches to capture mode with the bulk read already pending, then decodes the frame.
func (d *Driver) scan(ctx context.Context) (*fingerprint.Image, error) {
	buf := make([]byte, frameLen)
	type result struct {
		n   int
		err error
	}
	rctx, cancel := context.WithTimeout(ctx, d.opts.TransferTimeout)
	defer cancel()
	got := make(chan result, 1)
	go func() {
		n, err := d.t.Read(rctx, epData, buf)
		got <- result{n, err}
	}()
	if err := d.writeReg(ctx, regMode, modeCapture); err != nil {
		cancel()
		<-got
		return nil, err
	}
	r := <-got
	if r.err != nil {
		return nil, fingerprint.TransferFail("uru4000: read frame", r.err)
	}
	clear(buf[r.n:])
	f, err := parseFrame(buf, r.n)
	if err != nil {
		return nil, err
	}
	if f.encrypted() {
		if err := d.unscramble(ctx, f); err != nil {
			return nil, err
		}
	}
	pix, err := f.assemble()
	if err != nil {
		return nil, err
	}
	for i, v := range pix {
		pix[i] = 0xff - v // the sensor reports ridges bright
	}
	if d.profile.Rotated {
		for i, j := 0, len(pix)-1; i < j; i, j = i+1, j-1 {
			pix[i], pix[j] = pix[j], pix[i]
		}
	}
	gray := &image.Gray{Pix: pix, Stride: Width, Rect: image.Rect(0, 0, Width, Height)}
	return &fingerprint.Image{Gray: gray, PPI: ppi}, nil
}

// unscramble asks the reader for the key of each key period and undoes the scrambling.
func (d *Driver) unscramble(ctx context.Context, f *frame) error {
	keyNumber := f.keyNumber
	block, lines := 0, 0
	for {
		seed := d.opts.Seed()
		idx := []byte{keyNumber, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(idx[1:], seed)
		if err := d.writeRegs(ctx, regScrambleIx, idx); err != nil {
			return err
		}
		kb, err := d.readRegs(ctx, regScrambleK, 4)
		if err != nil {
			return err
		}
		key := binary.LittleEndian.Uint32(kb) ^ seed
		var changed bool
		block, lines, key, changed, err = f.decode(block, lines, key)
		if err != nil {
			return err
		}
		if !changed {
			return nil
		}
		keyNumber++
	}
}

func (d *Driver) readReg(ctx context.Context, reg uint16) (byte, error) {
	b, err := d.readRegs(ctx, reg, 1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *Driver) readRegs(ctx context.Context, reg uint16, n int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.TransferTimeout)
	defer cancel()
	buf := make([]byte, n)
	got, err := d.t.Control(ctx, ctrlIn, ctrlRequest, reg, 0, buf)
	if err != nil {
		return nil, fingerprint.TransferFail(fmt.Sprintf("uru4000: read register %#02x", reg), err)
	}
	if got != n {
		return nil, fingerprint.Failf(fingerprint.CodeTruncated, "uru4000: register %#02x: %d of %d bytes", reg, got, n)
	}
	return buf, nil
}

func (d *Driver) writeReg(ctx context.Context, reg uint16, v byte) error {
	return d.writeRegs(ctx, reg, []byte{v})
}

func (d *Driver) writeRegs(ctx context.Context, reg uint16, vals []byte) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.TransferTimeout)
	defer cancel()
	if _, err := d.t.Control(ctx, ctrlOut, ctrlRequest, reg, 0, vals); err != nil {
		return fingerprint.TransferFail(fmt.Sprintf("uru4000: write register %#02x", reg), err)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fingerprint.TransferFail("uru4000: wait", ctx.Err())
	}
}
