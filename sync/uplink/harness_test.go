package uplink_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
	"koffer/sync/packet"
	"koffer/sync/townhall"
	"koffer/sync/uplink"
)

// env is one kit, one real in-process town hall, and a toxiproxy link between them.
type env struct {
	t      testing.TB
	thDir  string
	thAddr string
	bundle *enroll.Bundle
	kitDir string
	outbox *memOutbox
	proxy  *toxiproxy.Proxy
	parts  map[string][]packet.Part

	wrap func(http.Handler) http.Handler // middleware in front of the town hall (faults)
	be   townhallBackend                 // where the town hall keeps its state

	mu   sync.Mutex
	stop func()
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, thDir: t.TempDir(), kitDir: t.TempDir(), outbox: newMemOutbox(), parts: map[string][]packet.Part{}}
	e.be = newBackend(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.thAddr = ln.Addr().String()
	require.NoError(t, ln.Close())
	e.startTownhall()
	t.Cleanup(e.stopTownhall)

	th, err := townhall.Open(context.Background(), e.thDir, e.be.options(t, townhall.Options{Logger: quiet()}))
	require.NoError(t, err)
	e.bundle, err = th.AddKit(context.Background(), "kit-1", "https://"+e.thAddr)
	require.NoError(t, err)
	require.NoError(t, th.Close())

	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	e.proxy = toxiproxy.NewProxy(srv, "townhall", "127.0.0.1:0", e.thAddr)
	require.NoError(t, e.proxy.Start())
	t.Cleanup(e.proxy.Stop)
	return e
}

func init() { zerolog.SetGlobalLevel(zerolog.Disabled) } // toxiproxy's own logging

func quiet() *slog.Logger {
	if os.Getenv("KOFFER_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}

// startTownhall serves the town hall on its fixed address (again after a restart).
func (e *env) startTownhall() {
	e.t.Helper()
	th, err := townhall.Open(context.Background(), e.thDir, e.be.options(e.t, townhall.Options{Logger: quiet(), NetworkTimeout: 2 * time.Second}))
	require.NoError(e.t, err)
	cfg, err := th.ServerTLS()
	require.NoError(e.t, err)
	h, err := th.Handler()
	require.NoError(e.t, err)
	if e.wrap != nil {
		h = e.wrap(h)
	}
	var ln net.Listener
	for i := 0; i < 50; i++ { // the port may linger briefly after a stop
		if ln, err = net.Listen("tcp", e.thAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(e.t, err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(quiet().Handler(), slog.LevelDebug)}
	done := make(chan struct{})
	go func() { _ = srv.Serve(tlsListener(ln, cfg)); close(done) }()
	e.mu.Lock()
	e.stop = func() { _ = srv.Close(); <-done; _ = th.Close() }
	e.mu.Unlock()
}

// stopTownhall kills the town hall at once (connections cut, like a crash of the process).
func (e *env) stopTownhall() {
	e.mu.Lock()
	stop := e.stop
	e.stop = nil
	e.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (e *env) townhall() *townhall.Townhall {
	th, err := townhall.Open(context.Background(), e.thDir, e.be.options(e.t, townhall.Options{Logger: quiet()}))
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = th.Close() })
	return th
}

// toxic adds a toxic to the link; attrs is the JSON of its attributes.
func (e *env) toxic(name, typ, stream, attrs string) {
	e.t.Helper()
	_, err := e.proxy.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
		`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)))
	require.NoError(e.t, err)
}

func (e *env) removeToxic(name string) {
	require.NoError(e.t, e.proxy.Toxics.RemoveToxic(context.Background(), name))
}

// shape gives the link bandwidth (kB/s, shared by all connections: sharedBandwidth) and
// latency (ms each way), in both directions. The bandwidth toxic comes first: it takes bytes
// off the socket at the link's rate, and the latency toxic's deep queue holds only what is on
// the wire, as on a real link.
func (e *env) shape(latencyMS, rateKBs int) {
	e.toxic("bw_up", "shared_bandwidth", "upstream", fmt.Sprintf(`{"rate":%d}`, rateKBs))
	e.toxic("bw_down", "shared_bandwidth", "downstream", fmt.Sprintf(`{"rate":%d}`, rateKBs))
	e.toxic("latency_up", "latency", "upstream", fmt.Sprintf(`{"latency":%d}`, latencyMS))
	e.toxic("latency_down", "latency", "downstream", fmt.Sprintf(`{"latency":%d}`, latencyMS))
}

// uploadedBytes is what the town hall holds of unfinished and finished uploads on disk.
func (e *env) uploadedBytes() int64 {
	entries, err := os.ReadDir(filepath.Join(e.thDir, "uploads"))
	require.NoError(e.t, err)
	var n int64
	for _, de := range entries {
		if strings.HasSuffix(de.Name(), ".info") {
			continue
		}
		if fi, err := de.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// seal queues n cases with a scan of minKB..maxKB each and a fingerprint record, oldest first.
func (e *env) seal(n, minKB, maxKB int) []string {
	e.t.Helper()
	key, err := e.bundle.SigningKey()
	require.NoError(e.t, err)
	return e.sealWith(n, minKB, maxKB, &packet.Sealer{KitID: e.bundle.KitID, Key: key})
}

func (e *env) sealWith(n, minKB, maxKB int, s *packet.Sealer) []string {
	e.t.Helper()
	rcp, err := e.bundle.AgeRecipient()
	require.NoError(e.t, err)
	s.Recipient = rcp
	var ids []string
	base := time.Now().Add(-time.Hour)
	for i := range n {
		id := uuid.Must(uuid.NewV7()).String()
		kb := minKB
		if maxKB > minKB {
			kb += i * (maxKB - minKB) / max(n-1, 1)
		}
		scan := make([]byte, kb<<10)
		_, _ = rand.Read(scan)
		finger := make([]byte, 4<<10)
		_, _ = rand.Read(finger)
		parts := []packet.Part{
			{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"personalausweis"}`)},
			{Name: "scan.pdf", Kind: packet.KindScan, Data: scan},
			{Name: "finger-left-index.iso", Kind: packet.KindFingerprint, Finger: "left-index", Data: finger},
		}
		var buf bytes.Buffer
		_, err := s.Seal(&buf, packet.Manifest{CaseID: id, Service: "personalausweis", CreatedAt: base}, parts)
		require.NoError(e.t, err)
		pkt := filepath.Join(e.kitDir, id+".pkt")
		bio := filepath.Join(e.kitDir, id+".bio")
		require.NoError(e.t, os.WriteFile(pkt, buf.Bytes(), 0o600))
		require.NoError(e.t, os.WriteFile(bio, finger, 0o600))
		e.outbox.add(uplink.OutboxItem{CaseID: id, Service: "personalausweis", PacketPath: pkt, Size: int64(buf.Len()),
			CreatedAt: base.Add(time.Duration(i) * time.Second)}, bio)
		e.parts[id] = parts
		ids = append(ids, id)
	}
	return ids
}

// uplink builds an uplink through the proxy with short test timings.
func (e *env) uplink(mod func(*uplink.Options)) *uplink.Uplink {
	e.t.Helper()
	opts := uplink.Options{
		Bundle: e.bundle, Outbox: e.outbox, Logger: quiet(),
		BackoffBase: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		LinkRetryBase: 50 * time.Millisecond, LinkRetryMax: 300 * time.Millisecond,
		StallTimeout: 700 * time.Millisecond, RequestTimeout: 3 * time.Second,
	}
	if e.proxy != nil {
		opts.URL = "https://" + e.proxy.Listen
	}
	if mod != nil {
		mod(&opts)
	}
	u, err := uplink.New(opts)
	require.NoError(e.t, err)
	return u
}

// drain runs u until the outbox has nothing pending or limit passes.
func (e *env) drain(u *uplink.Uplink, limit time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	for e.outbox.pending() > 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	require.NoError(e.t, <-done)
	require.Zero(e.t, e.outbox.pending(), "outbox drained within %v (state %+v)", limit, u.State())
}

// verify checks the end state: every delivered case exactly once at the town hall and
// byte-identical after opening, no packet or biometric file left on the kit for it, and a
// receipt in the outbox that names the town hall's number.
func (e *env) verify(wantParked map[string]string) {
	e.t.Helper()
	th := e.townhall()
	inbox, err := th.Inbox(context.Background())
	require.NoError(e.t, err)
	seen := map[string]int{}
	numbers := map[string]string{}
	for _, c := range inbox {
		seen[c.CaseID]++
		numbers[c.CaseID] = c.Receipt
	}
	for id, it := range e.outbox.snapshot() {
		if reason, ok := wantParked[id]; ok {
			assert.Equal(e.t, reason, it.parked, "parked with the reason")
			assert.Zero(e.t, seen[id], "a refused case is not at the town hall")
			assert.FileExists(e.t, it.PacketPath, "a parked packet is kept")
			continue
		}
		require.NotNil(e.t, it.delivered, "case %s delivered", id)
		assert.Equal(e.t, 1, seen[id], "case %s exactly once at the town hall", id)
		assert.Equal(e.t, numbers[id], it.delivered.Number)
		assert.NoFileExists(e.t, it.PacketPath)
		assert.NoFileExists(e.t, it.bioPath)
		p, err := th.OpenCase(context.Background(), id)
		require.NoError(e.t, err)
		require.Len(e.t, p.Parts, len(e.parts[id]))
		for i, part := range e.parts[id] {
			assert.True(e.t, bytes.Equal(part.Data, p.Parts[i].Data), "case %s part %s byte-identical", id, part.Name)
		}
	}
	assert.Len(e.t, inbox, len(e.outbox.snapshot())-len(wantParked), "nothing else at the town hall")
}
