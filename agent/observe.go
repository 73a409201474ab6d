package agent

import (
	"net/http"

	"koffer/agent/metrics"
	"koffer/agent/web"
	"koffer/devices/inventory"
	"koffer/sync/uplink"
)

// observe adds the technician's views of a running kit: on a kit with real devices the USB
// hot-plug watcher (attach and detach events in the log, devices up or down in the metrics),
// and the Prometheus metrics that Serve mounts at GET /metrics on the loopback listener.
// It returns the watcher (nil in training mode): it also tells which USB devices are attached.
func (a *Agent) observe() (*inventory.Watcher, error) {
	mo := metrics.Options{Queue: a.store, Runtime: true}
	if a.uplink != nil {
		mo.Sync = syncTotals{a.uplink}
	}
	var w *inventory.Watcher
	if !a.opts.Training {
		w = &inventory.Watcher{Logger: a.opts.Logger}
		a.opts.Runners = append(a.opts.Runners, w)
		mo.Devices = metrics.ProfileDevices(a.prof, w.Current)
	}
	a.metrics = metrics.New(mo).Handler()
	return w, nil
}

// syncTotals reads the uplink's counters for the metrics.
type syncTotals struct{ u *uplink.Uplink }

func (s syncTotals) SyncTotals() metrics.SyncTotals {
	st := s.u.State()
	return metrics.SyncTotals{BytesSent: uint64(max(st.BytesSent, 0)), Errors: uint64(st.Errors), Delivered: uint64(st.Delivered)}
}

// loopbackHandler is what the --listen listener serves: the metrics, and the UI (or, without
// one, the status of the local API). The UI's host check applies to all of it. /metrics needs
// no login (a local scraper cannot log in) and holds counts only, never an id or a name:
// docs/layout.md, "Who may read what".
func (a *Agent) loopbackHandler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics)
	if a.opts.UI != nil {
		mux.Handle("/", a.opts.UI)
	} else {
		mux.Handle("GET /v1/status", api)
	}
	return web.HostCheck(mux, nil)
}
