package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/inventory"
	"koffer/devices/profile"
	"koffer/store"
)

type fakeQueue struct {
	st  store.QueueStats
	err error
}

var _ Queue = (*fakeQueue)(nil)

func (f *fakeQueue) QueueStats(context.Context) (store.QueueStats, error) { return f.st, f.err }

type fakeDevices []DeviceState

var _ Devices = fakeDevices(nil)

func (f fakeDevices) DeviceStates() []DeviceState { return f }

func TestCollectors(t *testing.T) {
	var c Counters
	c.AddSent(1000)
	c.AddSent(24)
	c.SyncError()
	c.Delivered()
	c.Capture("fingerprint", "ok")
	c.Capture("fingerprint", "ok")
	c.Capture("fingerprint", "retry")
	q := &fakeQueue{st: store.QueueStats{Depth: 3, Parked: 1, Bytes: 4096, OldestAge: 90 * time.Second}}
	m := New(Options{Queue: q, Sync: &c, Captures: &c,
		Devices: fakeDevices{{Kind: "printer", Name: "Brother", Up: true}, {Kind: "fingerprint", Name: "U.are.U 4500", Up: false}}})

	want := `
# HELP koffer_queue_depth Packets not yet delivered (parked included).
# TYPE koffer_queue_depth gauge
koffer_queue_depth 3
# HELP koffer_queue_oldest_age_seconds Age of the oldest undelivered packet (0 when empty).
# TYPE koffer_queue_oldest_age_seconds gauge
koffer_queue_oldest_age_seconds 90
# HELP koffer_sync_sent_bytes_total Bytes uploaded to the town hall.
# TYPE koffer_sync_sent_bytes_total counter
koffer_sync_sent_bytes_total 1024
# HELP koffer_sync_errors_total Failed upload attempts.
# TYPE koffer_sync_errors_total counter
koffer_sync_errors_total 1
# HELP koffer_device_up 1 when the device answers.
# TYPE koffer_device_up gauge
koffer_device_up{kind="fingerprint",name="U.are.U 4500"} 0
koffer_device_up{kind="printer",name="Brother"} 1
# HELP koffer_capture_attempts_total Capture attempts by kind and result.
# TYPE koffer_capture_attempts_total counter
koffer_capture_attempts_total{kind="fingerprint",result="ok"} 2
koffer_capture_attempts_total{kind="fingerprint",result="retry"} 1
`
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"koffer_queue_depth", "koffer_queue_oldest_age_seconds", "koffer_sync_sent_bytes_total", "koffer_sync_errors_total",
		"koffer_device_up", "koffer_capture_attempts_total"))

	// The values are read at scrape time.
	q.st.Depth = 0
	n, err := testutil.GatherAndCount(m.Registry, "koffer_queue_depth")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader("# HELP koffer_queue_depth Packets not yet delivered (parked included).\n# TYPE koffer_queue_depth gauge\nkoffer_queue_depth 0\n"), "koffer_queue_depth"))

	lint, err := testutil.GatherAndLint(m.Registry)
	require.NoError(t, err)
	assert.Empty(t, lint)
}

func TestQueueUnreadable(t *testing.T) {
	m := New(Options{Queue: &fakeQueue{err: errors.New("database is locked")}})
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(
		"# HELP koffer_queue_read_ok 1 when the queue could be read at this scrape.\n# TYPE koffer_queue_read_ok gauge\nkoffer_queue_read_ok 0\n")))
}

func TestRealStoreAndHandler(t *testing.T) {
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	m := New(Options{Queue: st, Runtime: true})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	assert.Equal(t, 200, rec.Code)
	assert.Contains(t, string(body), "koffer_queue_depth 0")
	assert.Contains(t, string(body), "koffer_queue_read_ok 1")
	assert.Contains(t, string(body), "go_goroutines")
}

func TestProfileDevices(t *testing.T) {
	prof, err := profile.Parse([]byte("[[device]]\nkind = \"fingerprint\"\nname = \"Leser\"\nusb = \"147e:2016\"\n" +
		"[[device]]\nkind = \"printer\"\nusb = \"04f9:2042\"\n[[device]]\nkind = \"scanner\"\nuri = \"http://scanner/eSCL\"\n"))
	require.NoError(t, err)
	attached := []inventory.USBDevice{{ID: "147e:2016"}}
	m := New(Options{Devices: ProfileDevices(prof, func() []inventory.USBDevice { return attached })})
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP koffer_device_up 1 when the device answers.
# TYPE koffer_device_up gauge
koffer_device_up{kind="fingerprint",name="Leser"} 1
koffer_device_up{kind="printer",name="04f9:2042"} 0
`)))
	attached = nil
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP koffer_device_up 1 when the device answers.
# TYPE koffer_device_up gauge
koffer_device_up{kind="fingerprint",name="Leser"} 0
koffer_device_up{kind="printer",name="04f9:2042"} 0
`)), "read at scrape time: the reader was unplugged")
}
