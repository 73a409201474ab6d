package usb

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// StepKind is what a scripted transfer of a Fake is.
type StepKind uint8

const (
	StepControl StepKind = iota + 1
	StepRead
	StepWrite
)

func (k StepKind) String() string {
	switch k {
	case StepControl:
		return "control"
	case StepRead:
		return "read"
	case StepWrite:
		return "write"
	}
	return "unknown"
}

// Fault is what a Fake does instead of completing a step.
type Fault uint8

const (
	FaultNone    Fault = iota
	FaultTimeout       // say nothing until the caller's deadline passes
	FaultStall         // the endpoint stalls
	FaultUnplug        // the device disappears: this and every later transfer fail
)

// Step is one expected transfer and the device's answer. For writes (and control OUT) Data is
// what the host must send; for reads (and control IN) Data is what the device answers and
// Length is the buffer length the host must ask for, as strict as a umockdev replay.
type Step struct {
	Kind     StepKind
	Endpoint uint8 // bulk/interrupt endpoint address; 0 for control
	// Control setup.
	RequestType, Request uint8
	Value, Index         uint16
	Length               int
	Data                 []byte
	Fault                Fault
}

// ErrScript reports a transfer the script did not expect: a driver bug or a protocol change.
var ErrScript = errors.New("usb fake: transfer does not match the script")

// Fake is a scripted USB device for tests. Transfers are matched in order per lane (the
// control pipe, and each endpoint), so a driver that reads an interrupt endpoint concurrently
// with bulk traffic replays the same way as under umockdev. A lane with no steps left is
// silent: reads wait for the caller's deadline.
type Fake struct {
	mu        sync.Mutex
	lanes     map[uint8][]Step
	unplugged bool
	changed   chan struct{}
	// Done counts completed steps, for tests that assert how far a driver got.
	Done int
}

var _ interface {
	Control(context.Context, uint8, uint8, uint16, uint16, []byte) (int, error)
	Read(context.Context, uint8, []byte) (int, error)
	Write(context.Context, uint8, []byte) (int, error)
} = (*Fake)(nil)

// NewFake returns a fake that plays steps.
func NewFake(steps []Step) *Fake {
	f := &Fake{lanes: map[uint8][]Step{}, changed: make(chan struct{})}
	for _, s := range steps {
		k := fakeLane(s.Kind, s.Endpoint)
		f.lanes[k] = append(f.lanes[k], s)
	}
	return f
}

func fakeLane(kind StepKind, ep uint8) uint8 {
	if kind == StepControl {
		return 0
	}
	return ep
}

// Unplug makes every pending and later transfer fail with ErrUnplugged.
func (f *Fake) Unplug() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unplugged = true
	close(f.changed)
	f.changed = make(chan struct{})
}

// Remaining returns how many steps are left on all lanes.
func (f *Fake) Remaining() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.lanes {
		n += len(l)
	}
	return n
}

// Close does nothing; it lets the fake stand where a *Device is closed.
func (f *Fake) Close() error { return nil }

// next waits for the next step of a lane, honouring the caller's deadline.
func (f *Fake) next(ctx context.Context, lane uint8) (Step, error) {
	ctx, cancel := xferContext(ctx)
	defer cancel()
	for {
		f.mu.Lock()
		if f.unplugged {
			f.mu.Unlock()
			return Step{}, ErrUnplugged
		}
		steps := f.lanes[lane]
		if len(steps) > 0 {
			s := steps[0]
			if s.Fault == FaultTimeout {
				// Consume the step once its deadline has passed, so a retry sees the next one.
				f.mu.Unlock()
				<-ctx.Done()
				f.mu.Lock()
				f.lanes[lane] = f.lanes[lane][1:]
				f.mu.Unlock()
				return Step{}, usbCtxErr(ctx, ctx.Err())
			}
			f.lanes[lane] = steps[1:]
			if s.Fault == FaultUnplug {
				f.unplugged = true
				close(f.changed)
				f.changed = make(chan struct{})
				f.mu.Unlock()
				return Step{}, ErrUnplugged
			}
			f.Done++
			f.mu.Unlock()
			if s.Fault == FaultStall {
				return Step{}, ErrStall
			}
			return s, nil
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return Step{}, usbCtxErr(ctx, ctx.Err())
		case <-changed:
		}
	}
}

// Control plays the next control step.
func (f *Fake) Control(ctx context.Context, rType, request uint8, value, index uint16, data []byte) (int, error) {
	s, err := f.next(ctx, 0)
	if err != nil {
		return 0, fmt.Errorf("control %#02x/%#02x: %w", rType, request, err)
	}
	if s.RequestType != rType || s.Request != request || s.Value != value || s.Index != index || s.Length != len(data) {
		return 0, fmt.Errorf("%w: control %#02x/%#02x value %#04x index %#04x len %d, want %#02x/%#02x value %#04x index %#04x len %d",
			ErrScript, rType, request, value, index, len(data), s.RequestType, s.Request, s.Value, s.Index, s.Length)
	}
	if rType&0x80 != 0 {
		return copy(data, s.Data), nil
	}
	if string(s.Data) != string(data) {
		return 0, fmt.Errorf("%w: control OUT data % x, want % x", ErrScript, data, s.Data)
	}
	return len(data), nil
}

// Read plays the next read step of endpoint addr.
func (f *Fake) Read(ctx context.Context, addr uint8, buf []byte) (int, error) {
	s, err := f.next(ctx, addr)
	if err != nil {
		return 0, fmt.Errorf("read ep %#02x: %w", addr, err)
	}
	if s.Kind != StepRead || s.Length != len(buf) {
		return 0, fmt.Errorf("%w: read ep %#02x len %d, want %s len %d", ErrScript, addr, len(buf), s.Kind, s.Length)
	}
	if len(s.Data) > len(buf) {
		return copy(buf, s.Data), fmt.Errorf("read ep %#02x: %w", addr, ErrOverflow)
	}
	return copy(buf, s.Data), nil
}

// Write plays the next write step of endpoint addr.
func (f *Fake) Write(ctx context.Context, addr uint8, data []byte) (int, error) {
	s, err := f.next(ctx, addr)
	if err != nil {
		return 0, fmt.Errorf("write ep %#02x: %w", addr, err)
	}
	if s.Kind != StepWrite || string(s.Data) != string(data) {
		return 0, fmt.Errorf("%w: write ep %#02x % x, want %s % x", ErrScript, addr, data, s.Kind, s.Data)
	}
	return len(data), nil
}
