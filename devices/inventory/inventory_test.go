package inventory

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/fingerprint/usbreader"
	"koffer/devices/profile"
	"koffer/devices/usb"
)

var (
	reader  = usb.DeviceInfo{ID: usbreader.Models()[0].ID, Release: usbreader.Models()[0].Release, Bus: 1, Address: 3}
	printer = usb.DeviceInfo{ID: usb.ID{Vendor: 0x04f9, Product: 0x2042}, Bus: 1, Address: 4, Serial: "E7X123",
		Interfaces: []usb.InterfaceClass{{Class: 7, SubClass: 1, Protocol: 2}, {Number: 1, Class: 7, SubClass: 1, Protocol: 4}}}
	hub = usb.DeviceInfo{ID: usb.ID{Vendor: 0x1d6b, Product: 0x0002}, Bus: 1, Address: 1, Class: 9}
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		d     usb.DeviceInfo
		what  string
		kinds []devices.Kind
	}{
		{name: "reader", d: reader, what: usbreader.Models()[0].Family, kinds: []devices.Kind{devices.Fingerprint}},
		{name: "ipp-usb", d: printer, what: "IPP-over-USB", kinds: []devices.Kind{devices.Printer, devices.Scanner}},
		{name: "usb printer without ipp", d: usb.DeviceInfo{Interfaces: []usb.InterfaceClass{{Class: 7, SubClass: 1, Protocol: 2}}}, what: "unknown"},
		{name: "hub", d: hub, what: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			what, kinds := Classify(tt.d)
			assert.Contains(t, what, tt.what)
			assert.Equal(t, tt.kinds, kinds)
		})
	}
}

func TestTake(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	prof, err := profile.Parse([]byte(`
[[device]]
kind = "printer"
usb = "04f9:2042"
[[device]]
kind = "scanner"
uri = "http://` + l.Addr().String() + `/eSCL"
[[device]]
kind = "scanner"
uri = "http://127.0.0.1:1/eSCL"
[[device]]
kind = "fingerprint"
usb = "08ff:2580"
`))
	require.NoError(t, err)
	list := func(context.Context) ([]usb.DeviceInfo, error) { return []usb.DeviceInfo{hub, printer}, nil }
	inv := Take(t.Context(), prof, Options{List: list, DialTimeout: time.Second})
	require.Len(t, inv.USB, 2)
	assert.Equal(t, "04f9:2042", inv.USB[1].ID)
	assert.Equal(t, "E7X123", inv.USB[1].Serial)
	assert.Equal(t, "09/00/00", inv.USB[0].Class)
	require.Len(t, inv.Network, 2)
	assert.True(t, inv.Network[0].Reachable)
	assert.False(t, inv.Network[1].Reachable)
	assert.NotEmpty(t, inv.Network[1].Problem)
	byKind := map[devices.Kind]KindStatus{}
	for _, k := range inv.Kinds {
		byKind[k.Kind] = k
	}
	assert.True(t, byKind[devices.Printer].Satisfied)
	assert.False(t, byKind[devices.Scanner].Satisfied)
	assert.Equal(t, 1, byKind[devices.Scanner].Found)
	assert.Equal(t, []string{"http://127.0.0.1:1/eSCL"}, byKind[devices.Scanner].Missing)
	assert.False(t, byKind[devices.Fingerprint].Satisfied)
	assert.Equal(t, []string{"08ff:2580"}, byKind[devices.Fingerprint].Missing)

	t.Run("no profile, usb error", func(t *testing.T) {
		inv := Take(t.Context(), nil, Options{List: func(context.Context) ([]usb.DeviceInfo, error) { return nil, errors.New("libusb: no access") }})
		assert.Empty(t, inv.Kinds)
		assert.Equal(t, "libusb: no access", inv.USBError)
	})
}

func TestDiff(t *testing.T) {
	replugged := reader
	replugged.Address = 9
	tests := []struct {
		name      string
		prev, cur []usb.DeviceInfo
		want      []string
	}{
		{name: "nothing changes", prev: []usb.DeviceInfo{hub, reader}, cur: []usb.DeviceInfo{hub, reader}},
		{name: "attach", prev: []usb.DeviceInfo{hub}, cur: []usb.DeviceInfo{hub, printer}, want: []string{"attach 04f9:2042"}},
		{name: "detach", prev: []usb.DeviceInfo{hub, printer}, cur: []usb.DeviceInfo{hub}, want: []string{"detach 04f9:2042"}},
		{name: "replug is detach then attach", prev: []usb.DeviceInfo{reader}, cur: []usb.DeviceInfo{replugged},
			want: []string{"detach " + reader.ID.String(), "attach " + reader.ID.String()}},
		{name: "baseline", cur: []usb.DeviceInfo{hub}, want: []string{"attach 1d6b:0002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range Diff(tt.prev, tt.cur) {
				got = append(got, e.String())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// fakeLister returns the scripted enumerations in turn, then repeats the last.
type fakeLister struct {
	mu    sync.Mutex
	steps [][]usb.DeviceInfo
	errs  []error
	n     int
}

func (f *fakeLister) List(context.Context) ([]usb.DeviceInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := min(f.n, len(f.steps)-1)
	f.n++
	return f.steps[i], f.errs[i]
}

func TestWatcher(t *testing.T) {
	fl := &fakeLister{
		steps: [][]usb.DeviceInfo{{hub}, {hub, reader}, nil, {hub}},
		errs:  []error{nil, nil, errors.New("enumerate: busy"), nil},
	}
	tick := make(chan time.Time)
	events := make(chan Event, 10)
	var logs bytes.Buffer
	var logMu sync.Mutex
	w := &Watcher{List: fl.List, Tick: tick, OnEvent: func(e Event) { events <- e },
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	next := func() Event {
		select {
		case e := <-events:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
			return Event{}
		}
	}
	assert.Equal(t, "attach 1d6b:0002", next().String(), "baseline")
	require.Len(t, w.Current(), 1)
	tick <- time.Now()
	assert.Equal(t, "attach "+reader.ID.String(), next().String())
	tick <- time.Now() // enumeration fails: no events, state kept
	tick <- time.Now()
	assert.Equal(t, "detach "+reader.ID.String(), next().String(), "the reader left (compared with the last good listing)")
	assert.Equal(t, []string{"1d6b:0002"}, ids(w.Current()))
	cancel()
	require.NoError(t, <-done)
	assert.Empty(t, events)
	logMu.Lock()
	defer logMu.Unlock()
	assert.Contains(t, logs.String(), "msg=usbDeviceAttached")
	assert.Contains(t, logs.String(), "msg=usbDeviceDetached")
	assert.Contains(t, logs.String(), "msg=usbEnumerateFailed")
	assert.Contains(t, logs.String(), "subsystem=inventory")
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func ids(ds []USBDevice) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// TestWatcherSkipsWhileBusHeld: while a device job holds the bus, a poll lists nothing (no
// descriptor request may cut into the job's transfers); the next free poll lists again.
func TestWatcherSkipsWhileBusHeld(t *testing.T) {
	fl := &fakeLister{steps: [][]usb.DeviceInfo{{hub}, {hub, reader}}, errs: []error{nil, nil}}
	var held atomic.Bool
	polled := make(chan struct{}, 10)
	tick := make(chan time.Time)
	events := make(chan Event, 10)
	w := &Watcher{List: fl.List, Tick: tick, OnEvent: func(e Event) { events <- e },
		Hold: func() (func(), bool) {
			polled <- struct{}{}
			if held.Load() {
				return nil, false
			}
			return func() {}, true
		}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-polled
	assert.Equal(t, "attach 1d6b:0002", (<-events).String(), "baseline")

	held.Store(true)
	tick <- time.Now()
	<-polled
	tick <- time.Now() // the next tick is taken only once the skipped poll is over
	<-polled
	fl.mu.Lock()
	assert.Equal(t, 1, fl.n, "no enumeration while the bus is held")
	fl.mu.Unlock()

	held.Store(false)
	tick <- time.Now()
	<-polled
	assert.Equal(t, "attach "+reader.ID.String(), (<-events).String())
	cancel()
	require.NoError(t, <-done)
}
