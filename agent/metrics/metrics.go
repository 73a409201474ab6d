// Package metrics exposes the kit's state to Prometheus: queue depth and age, sync bytes and
// errors, device states and capture attempts. Collectors read through small interfaces at
// scrape time, so the numbers are the store's and the devices' own, never a second bookkeeping.
// No label ever holds personal data: kinds, results and device names from the kit profile only.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"koffer/devices/inventory"
	"koffer/devices/profile"
	"koffer/store"
)

// Queue is the outbox as metrics read it (*store.Store).
type Queue interface {
	QueueStats(ctx context.Context) (store.QueueStats, error)
}

// SyncTotals are the uplink's counters since start.
type SyncTotals struct {
	BytesSent uint64
	Errors    uint64
	Delivered uint64
}

// Sync reports the uplink's counters.
type Sync interface{ SyncTotals() SyncTotals }

// DeviceState is one device as the agent last saw it.
type DeviceState struct {
	Kind string // printer, scanner, fingerprint
	Name string // from the kit profile or the model, never personal data
	Up   bool
}

// Devices reports the devices' states.
type Devices interface{ DeviceStates() []DeviceState }

// Captures reports capture attempts by kind (fingerprint, scan, signature) and result
// (ok, retry, fail).
type Captures interface {
	CaptureAttempts() map[CaptureKey]uint64
}

// CaptureKey labels a capture counter.
type CaptureKey struct{ Kind, Result string }

// Options configure New. Nil sources are left out of the registry.
type Options struct {
	Queue    Queue
	Sync     Sync
	Devices  Devices
	Captures Captures
	// Timeout bounds reading the queue at scrape time (default 2 s).
	Timeout time.Duration
	// Runtime adds the Go runtime and process collectors.
	Runtime bool
}

// Metrics is a registry with the kit's collectors.
type Metrics struct {
	Registry *prometheus.Registry
}

// New registers a collector over the given sources.
func New(opts Options) *Metrics {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{opts: opts})
	if opts.Runtime {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return &Metrics{Registry: reg}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

var (
	descDepth     = prometheus.NewDesc("koffer_queue_depth", "Packets not yet delivered (parked included).", nil, nil)
	descParked    = prometheus.NewDesc("koffer_queue_parked", "Packets parked after the town hall refused them.", nil, nil)
	descBytes     = prometheus.NewDesc("koffer_queue_bytes", "Size of the undelivered packets.", nil, nil)
	descOldest    = prometheus.NewDesc("koffer_queue_oldest_age_seconds", "Age of the oldest undelivered packet (0 when empty).", nil, nil)
	descQueueUp   = prometheus.NewDesc("koffer_queue_read_ok", "1 when the queue could be read at this scrape.", nil, nil)
	descSyncBytes = prometheus.NewDesc("koffer_sync_sent_bytes_total", "Bytes uploaded to the town hall.", nil, nil)
	descSyncErrs  = prometheus.NewDesc("koffer_sync_errors_total", "Failed upload attempts.", nil, nil)
	descSyncDone  = prometheus.NewDesc("koffer_sync_delivered_total", "Packets the town hall acknowledged.", nil, nil)
	descDevice    = prometheus.NewDesc("koffer_device_up", "1 when the device answers.", []string{"kind", "name"}, nil)
	descCaptures  = prometheus.NewDesc("koffer_capture_attempts_total", "Capture attempts by kind and result.", []string{"kind", "result"}, nil)
)

type collector struct {
	opts Options
	mu   sync.Mutex // one scrape at a time reads the store
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	if c.opts.Queue != nil {
		for _, d := range []*prometheus.Desc{descDepth, descParked, descBytes, descOldest, descQueueUp} {
			ch <- d
		}
	}
	if c.opts.Sync != nil {
		ch <- descSyncBytes
		ch <- descSyncErrs
		ch <- descSyncDone
	}
	if c.opts.Devices != nil {
		ch <- descDevice
	}
	if c.opts.Captures != nil {
		ch <- descCaptures
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Queue != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		st, err := c.opts.Queue.QueueStats(ctx)
		cancel()
		if err != nil {
			ch <- gauge(descQueueUp, 0)
		} else {
			ch <- gauge(descQueueUp, 1)
			ch <- gauge(descDepth, float64(st.Depth))
			ch <- gauge(descParked, float64(st.Parked))
			ch <- gauge(descBytes, float64(st.Bytes))
			ch <- gauge(descOldest, st.OldestAge.Seconds())
		}
	}
	if c.opts.Sync != nil {
		t := c.opts.Sync.SyncTotals()
		ch <- counter(descSyncBytes, t.BytesSent)
		ch <- counter(descSyncErrs, t.Errors)
		ch <- counter(descSyncDone, t.Delivered)
	}
	if c.opts.Devices != nil {
		for _, d := range c.opts.Devices.DeviceStates() {
			v := 0.0
			if d.Up {
				v = 1
			}
			ch <- gauge(descDevice, v, d.Kind, d.Name)
		}
	}
	if c.opts.Captures != nil {
		for k, n := range c.opts.Captures.CaptureAttempts() {
			ch <- counter(descCaptures, n, k.Kind, k.Result)
		}
	}
}

// Counters is a ready Sync and Captures for the parts that produce the events (uplink,
// capture code) to increment; safe for concurrent use.
type Counters struct {
	mu       sync.Mutex
	sync     SyncTotals
	captures map[CaptureKey]uint64
}

var (
	_ Sync     = (*Counters)(nil)
	_ Captures = (*Counters)(nil)
)

// AddSent counts uploaded bytes.
func (c *Counters) AddSent(n int64) {
	c.mu.Lock()
	c.sync.BytesSent += uint64(max(n, 0))
	c.mu.Unlock()
}

// SyncError counts a failed upload attempt.
func (c *Counters) SyncError() { c.mu.Lock(); c.sync.Errors++; c.mu.Unlock() }

// Delivered counts an acknowledged packet.
func (c *Counters) Delivered() { c.mu.Lock(); c.sync.Delivered++; c.mu.Unlock() }

// Capture counts one capture attempt.
func (c *Counters) Capture(kind, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.captures == nil {
		c.captures = map[CaptureKey]uint64{}
	}
	c.captures[CaptureKey{kind, result}]++
}

func (c *Counters) SyncTotals() SyncTotals {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sync
}

func (c *Counters) CaptureAttempts() map[CaptureKey]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[CaptureKey]uint64, len(c.captures))
	for k, v := range c.captures {
		out[k] = v
	}
	return out
}

// ProfileDevices reports each USB device of the kit profile as up while it is attached,
// reading the attached devices from current (inventory.Watcher.Current).
func ProfileDevices(prof *profile.Profile, current func() []inventory.USBDevice) Devices {
	return profileDevices{prof: prof, current: current}
}

type profileDevices struct {
	prof    *profile.Profile
	current func() []inventory.USBDevice
}

func (p profileDevices) DeviceStates() []DeviceState {
	if p.prof == nil {
		return nil
	}
	attached := map[string]bool{}
	for _, d := range p.current() {
		attached[d.ID] = true
	}
	var out []DeviceState
	for _, d := range p.prof.Devices {
		if d.Network() {
			continue
		}
		name := d.Name
		if name == "" {
			name = d.USBID.String()
		}
		out = append(out, DeviceState{Kind: string(d.Kind), Name: name, Up: attached[d.USBID.String()]})
	}
	return out
}
