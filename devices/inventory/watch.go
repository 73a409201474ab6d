package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"koffer/devices/usb"
)

// EventType is attach or detach.
type EventType string

const (
	Attach EventType = "attach"
	Detach EventType = "detach"
)

// Event is one device appearing or disappearing between two enumerations.
type Event struct {
	Type   EventType
	Device USBDevice
}

// key identifies one attachment: the same device replugged gets a new address.
type key struct {
	id           usb.ID
	bus, address int
}

// Diff returns the events that lead from prev to cur: detaches first, then attaches, each in
// the order of the lists.
func Diff(prev, cur []usb.DeviceInfo) []Event {
	keyOf := func(d usb.DeviceInfo) key { return key{d.ID, d.Bus, d.Address} }
	in := func(list []usb.DeviceInfo) map[key]bool {
		m := make(map[key]bool, len(list))
		for _, d := range list {
			m[keyOf(d)] = true
		}
		return m
	}
	before, after := in(prev), in(cur)
	var evs []Event
	for _, d := range prev {
		if !after[keyOf(d)] {
			evs = append(evs, Event{Type: Detach, Device: describe(d)})
		}
	}
	for _, d := range cur {
		if !before[keyOf(d)] {
			evs = append(evs, Event{Type: Attach, Device: describe(d)})
		}
	}
	return evs
}

// Watcher polls a Lister and reports attach and detach events.
type Watcher struct {
	List Lister // default USBLister
	// Tick delivers the polling moments (default a 2 s time.Ticker); tests inject a channel.
	Tick <-chan time.Time
	// ListTimeout bounds one enumeration (default 5 s).
	ListTimeout time.Duration
	OnEvent     func(Event)
	Logger      *slog.Logger
	// Hold takes the bus for one poll; ok false skips the poll, because a device job on the
	// bus is running and an enumeration's descriptor requests would cut into its transfers
	// (nil: always poll).
	Hold func() (release func(), ok bool)

	mu      sync.Mutex
	current []USBDevice
}

// Current is what the last good enumeration found (nil before the first).
func (w *Watcher) Current() []USBDevice {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]USBDevice(nil), w.current...)
}

// Run polls until ctx ends. The first enumeration is the baseline: devices present at start
// are reported as attached once. An enumeration that fails is logged and skipped (no events).
func (w *Watcher) Run(ctx context.Context) error {
	list := w.List
	if list == nil {
		list = USBLister
	}
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("subsystem", "inventory")
	timeout := w.ListTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	tick := w.Tick
	if tick == nil {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		tick = t.C
	}
	var prev []usb.DeviceInfo
	var lastErr string
	poll := func() {
		if w.Hold != nil {
			release, ok := w.Hold()
			if !ok {
				return
			}
			defer release()
		}
		lctx, cancel := context.WithTimeout(ctx, timeout)
		cur, err := list(lctx)
		cancel()
		if err != nil {
			// A bus that stays broken is logged once, not every poll.
			if err.Error() != lastErr {
				log.Warn("usbEnumerateFailed", "err", err)
				lastErr = err.Error()
			}
			return
		}
		lastErr = ""
		// Record the new listing before telling anyone, so a listener that reacts to an
		// event and asks Current sees the state the event describes.
		described := make([]USBDevice, len(cur))
		for i, d := range cur {
			described[i] = describe(d)
		}
		w.mu.Lock()
		w.current = described
		w.mu.Unlock()
		for _, ev := range Diff(prev, cur) {
			attrs := []any{"id", ev.Device.ID, "bus", ev.Device.Bus, "address", ev.Device.Address, "koffer", ev.Device.Koffer}
			if ev.Type == Attach {
				log.Info("usbDeviceAttached", attrs...)
			} else {
				log.Info("usbDeviceDetached", attrs...)
			}
			if w.OnEvent != nil {
				w.OnEvent(ev)
			}
		}
		prev = cur
	}
	poll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			poll()
		}
	}
}

func (e Event) String() string { return fmt.Sprintf("%s %s", e.Type, e.Device.ID) }
