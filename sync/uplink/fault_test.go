package uplink_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
	"koffer/sync/packet"
	"koffer/sync/receipt"
	"koffer/sync/uplink"
	"koffer/sync/visit"
)

// sizes of the fault scenarios: small by default so `make test` stays quick; the full sizes of
// the issue (20 cases with 1-5 MB scans at 1 Mbit/s) with KOFFER_SYNC_FULL=1.
func sizes() (n, minKB, maxKB, rateKBs int, limit time.Duration) {
	if os.Getenv("KOFFER_SYNC_FULL") != "" {
		return 20, 1 << 10, 5 << 10, 125, 30 * time.Minute
	}
	return 20, 40, 200, 2000, 90 * time.Second
}

func TestShapedLink(t *testing.T) {
	t.Parallel()
	n, lo, hi, rate, limit := sizes()
	e := newEnv(t)
	var requests atomic.Int64
	var commits atomic.Int64
	e.stopTownhall()
	e.wrap = func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			if strings.HasPrefix(r.URL.Path, "/v1/packets/") {
				commits.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
	e.startTownhall()
	e.shape(150, rate)
	ids := e.seal(n, lo, hi)
	u := e.uplink(func(o *uplink.Options) { o.VisitInterval = time.Hour })
	e.drain(u, limit)
	assert.Zero(t, commits.Load(), "every receipt came on the request that completed the upload")
	assert.LessOrEqual(t, requests.Load(), int64(n+2), "one request per case (and the housekeeping)")
	e.verify(nil)
	st := u.State()
	assert.True(t, st.Reachable)
	assert.Equal(t, n, st.Delivered)
	assert.Equal(t, ids, e.outbox.delivered, "receipts stored in the order the cases were sealed")
	assert.Equal(t, e.outbox.urlSets, n, "one upload per case, no fallback creation")
}

func TestLinkFaults(t *testing.T) {
	t.Parallel()
	n, lo, hi, rate, limit := sizes()
	tests := []struct {
		name   string
		setup  func(e *env)
		during func(ctx context.Context, e *env, u *uplink.Uplink)
	}{
		{
			// Every connection is cut after 96 KiB upstream: uploads resume across connections.
			name:  "cut after N bytes",
			setup: func(e *env) { e.toxic("cut", "limit_data", "upstream", `{"bytes":98304}`) },
		},
		{
			// The link goes silent twice (data stops, connection stays open): stall detection.
			name: "timeouts",
			during: func(ctx context.Context, e *env, u *uplink.Uplink) {
				for range 2 {
					waitBytes(ctx, u, u.State().BytesSent+150<<10)
					e.toxic("silence", "timeout", "upstream", `{"timeout":0}`)
					sleep(ctx, 1500*time.Millisecond)
					e.removeToxic("silence")
				}
			},
		},
		{
			// Connections are reset 400 ms after they open, for a while.
			name: "resets",
			during: func(ctx context.Context, e *env, u *uplink.Uplink) {
				waitBytes(ctx, u, 100<<10)
				e.toxic("reset", "reset_peer", "upstream", `{"timeout":400}`)
				sleep(ctx, 3*time.Second)
				e.removeToxic("reset")
			},
		},
		{
			// Down and up every second or so while the queue drains.
			name: "flapping link",
			during: func(ctx context.Context, e *env, u *uplink.Uplink) {
				for ctx.Err() == nil && e.outbox.pending() > 0 {
					sleep(ctx, 1200*time.Millisecond)
					e.proxy.Stop()
					sleep(ctx, 800*time.Millisecond)
					_ = e.proxy.Start()
				}
			},
		},
		{
			// The town hall dies mid-upload twice and comes back on the same address.
			name: "town hall restart mid-upload",
			during: func(ctx context.Context, e *env, u *uplink.Uplink) {
				for range 2 {
					waitBytes(ctx, u, u.State().BytesSent+300<<10)
					e.stopTownhall()
					sleep(ctx, 700*time.Millisecond)
					e.startTownhall()
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.shape(20, rate)
			if tt.setup != nil {
				tt.setup(e)
			}
			e.seal(n, lo, hi)
			u := e.uplink(nil)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			if tt.during != nil {
				wg.Go(func() { tt.during(ctx, e, u) })
			}
			e.drain(u, limit)
			cancel()
			wg.Wait()
			e.verify(nil)
			failures := 0
			for _, f := range e.outbox.failures {
				failures += len(f)
			}
			st := u.State()
			// Probes while the link is down are errors of the uplink but not attempts.
			assert.Positive(t, st.Errors+st.Resumes, "the fault was met (errors %d, resumes %d)", st.Errors, st.Resumes)
			t.Logf("failed attempts %d, errors %d, resumes %d, bytes sent %d", failures, st.Errors, st.Resumes, st.BytesSent)
		})
	}
}

// TestTownhallMisbehaves puts a faulty layer in front of the real town hall handler.
func TestTownhallMisbehaves(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wrap func(next http.Handler) http.Handler
	}{
		{
			name: "garbage and 5xx",
			wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch mrand.N(5) {
					case 0:
						http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
					case 1: // a garbage 200 in place of a real answer
						_, _ = io.Copy(io.Discard, r.Body)
						w.Header().Set("Tus-Resumable", "1.0.0")
						w.Header().Set("Upload-Offset", "banana")
						w.WriteHeader(http.StatusOK)
						_, _ = w.Write([]byte("{not json"))
					default:
						next.ServeHTTP(w, r)
					}
				})
			},
		},
		{
			// Creations are cut halfway, so every upload resumes; HEAD lies every other time
			// and PATCH claims a conflict now and then.
			name: "wrong offsets",
			wrap: func(next http.Handler) http.Handler {
				var n atomic.Int64
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch {
					case r.Method == http.MethodPost && r.URL.Path == "/files/" && r.ContentLength > 0:
						r.Body = &cutBody{r: r.Body, left: r.ContentLength / 2}
					case r.Method == http.MethodHead && n.Add(1)%2 == 1:
						w = &offsetLiar{ResponseWriter: w}
					case r.Method == http.MethodPatch && n.Add(1)%3 == 1:
						_, _ = io.Copy(io.Discard, r.Body)
						w.Header().Set("Tus-Resumable", "1.0.0")
						w.WriteHeader(http.StatusConflict)
						return
					}
					next.ServeHTTP(w, r)
				})
			},
		},
		{
			// Every other receipt, on the completing tus request or on a separate commit,
			// arrives with a broken signature.
			name: "bad receipt signature",
			wrap: func(next http.Handler) http.Handler {
				var n atomic.Int64
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodPost && r.Method != http.MethodPatch {
						next.ServeHTTP(w, r)
						return
					}
					rec := httptest.NewRecorder()
					next.ServeHTTP(rec, r)
					body := rec.Body.Bytes()
					var env map[string][]byte
					receiptAnswer := rec.Header().Get(receipt.CommitHeader) == receipt.CommitReceipt ||
						(rec.Code == http.StatusOK && strings.HasPrefix(r.URL.Path, "/v1/packets/"))
					if receiptAnswer && json.Unmarshal(body, &env) == nil && len(env["sig"]) > 0 && n.Add(1)%2 == 1 {
						env["sig"][0] ^= 0xff
						body, _ = json.Marshal(env)
					}
					for k, v := range rec.Header() {
						w.Header()[k] = v
					}
					w.Header().Del("Content-Length")
					w.WriteHeader(rec.Code)
					_, _ = w.Write(body)
				})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.stopTownhall()
			e.wrap = tt.wrap
			e.startTownhall()
			e.seal(8, 40, 120)
			// An upload URL from an earlier run makes the first step a HEAD for every case.
			u := e.uplink(nil)
			e.drain(u, 60*time.Second)
			e.verify(nil)
			failures := 0
			for _, f := range e.outbox.failures {
				failures += len(f)
			}
			assert.Positive(t, failures, "the faults were met and retried")
		})
	}
}

// cutBody ends a request body with an error after left bytes, like a dropped link.
type cutBody struct {
	r    io.ReadCloser
	left int64
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("link dropped")
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.r.Close() }

// offsetLiar reports an Upload-Offset that is not what the server holds.
type offsetLiar struct{ http.ResponseWriter }

func (o *offsetLiar) WriteHeader(code int) {
	h := o.Header()
	if off, err := strconv.ParseInt(h.Get("Upload-Offset"), 10, 64); err == nil {
		l, _ := strconv.ParseInt(h.Get("Upload-Length"), 10, 64)
		if off > 0 {
			h.Set("Upload-Offset", "0")
		} else if l > 10 {
			h.Set("Upload-Offset", strconv.FormatInt(l/2, 10))
		}
	}
	o.ResponseWriter.WriteHeader(code)
}

func TestWrongCA(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.seal(2, 20, 20)
	foreign, _, err := enroll.NewTraining("kit-1")
	require.NoError(t, err)
	pinned := *e.bundle
	pinned.CAPEM = foreign.CAPEM // the kit pins a CA that did not issue the server certificate
	u := e.uplink(func(o *uplink.Options) { o.Bundle = &pinned })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, u.Run(ctx))
	st := u.State()
	assert.False(t, st.Reachable)
	assert.Contains(t, st.LastError, "tls_untrusted")
	assert.Positive(t, st.Errors, "every refused handshake counts as an error")
	assert.Equal(t, 2, e.outbox.pending(), "nothing was delivered to an untrusted server")
	assert.Empty(t, e.townhallInbox())

	e.drain(e.uplink(nil), 30*time.Second)
	e.verify(nil)
}

func (e *env) townhallInbox() []string {
	inbox, err := e.townhall().Inbox(context.Background())
	require.NoError(e.t, err)
	var ids []string
	for _, c := range inbox {
		ids = append(ids, c.CaseID)
	}
	return ids
}

func TestFinalRefusalIsParked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := e.seal(2, 10, 10)
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	bad := e.sealWith(1, 10, 10, &packet.Sealer{KitID: e.bundle.KitID, Key: stranger})
	good = append(good, e.seal(1, 10, 10)...)
	e.drain(e.uplink(nil), 30*time.Second)
	e.verify(map[string]string{bad[0]: receipt.CodeBadSignature})
	assert.Len(t, good, 3)
	assert.Len(t, e.outbox.failures[bad[0]], 0, "parked at once, not retried")
}

func TestReceiptLostBeforeDeliver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.seal(3, 30, 30)
	var fails atomic.Int64
	e.outbox.deliverFn = func(string) error {
		if fails.Add(1) <= 2 {
			return errors.New("disk full") // the town hall has the case, the kit did not record it
		}
		return nil
	}
	e.drain(e.uplink(nil), 30*time.Second)
	e.verify(nil)
}

func TestUnreachableDoesNotSpin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.seal(5, 10, 10)
	e.proxy.Stop()
	u := e.uplink(nil) // link retries 50..300 ms
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, u.Run(ctx))
	st := u.State()
	assert.Positive(t, st.Errors)
	assert.Less(t, st.Errors, 40, "one probe per link delay, not a spin")
	assert.Empty(t, e.outbox.failures, "probes are not attempts")
	assert.False(t, st.Reachable)

	// The link returns: the queue drains without waiting for item backoffs.
	require.NoError(t, e.proxy.Start())
	e.drain(u, 30*time.Second)
	e.verify(nil)
}

func TestKickWakesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.uplink(func(o *uplink.Options) { o.VisitInterval = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	time.Sleep(200 * time.Millisecond) // the sender is idle, waiting for an hour
	e.seal(1, 10, 10)
	u.Kick()
	deadline := time.Now().Add(20 * time.Second)
	for e.outbox.pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
	assert.Zero(t, e.outbox.pending(), "delivered after the kick, long before the idle wait ended")
	e.verify(nil)
}

type visitSink struct {
	ident *age.X25519Identity
	mu    sync.Mutex
	calls int
	packs map[string][]byte
}

var _ uplink.VisitSink = (*visitSink)(nil)

func (s *visitSink) VisitRecipient() (string, error) { return s.ident.Recipient().String(), nil }

// StoreVisitPack keeps the first delivery waiting (as for a login), stores the second.
func (s *visitSink) StoreVisitPack(_ context.Context, id string, sealed []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls == 1 {
		return false, nil
	}
	s.packs[id] = sealed
	return true, nil
}

// TestVisitPacksComeDown: the uplink registers the kit's visit recipient, fetches the packs
// sealed to it, and acknowledges a pack only once the sink has stored it; the town hall then
// deletes it.
func TestVisitPacksComeDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ident, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	th := e.townhall()
	require.NoError(t, th.SetVisitRecipient(context.Background(), "kit-1", ident.Recipient().String()))
	raw, err := os.ReadFile("../../testdata/visits/2026-11-24.json")
	require.NoError(t, err)
	pack := bytes.Replace(raw, []byte(`"date": "2026-11-24"`), []byte(`"date": "`+time.Now().Format(time.DateOnly)+`"`), 1)
	id, err := th.AddVisits(context.Background(), "kit-1", pack)
	require.NoError(t, err)
	sink := &visitSink{ident: ident, packs: map[string][]byte{}}
	u := e.uplink(func(o *uplink.Options) { o.Visits = sink; o.VisitInterval = 20 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if ids, _ := th.VisitPacks(ctx, "kit-1"); len(ids) == 0 {
				cancel()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	require.NoError(t, u.Run(ctx))
	sink.mu.Lock()
	sealed, calls := sink.packs[id], sink.calls
	sink.mu.Unlock()
	require.NotEmpty(t, sealed)
	assert.Equal(t, 2, calls, "served again until stored, then acknowledged and gone")
	ca, err := receipt.ParseCA(e.bundle.CAPEM)
	require.NoError(t, err)
	_, got, err := visit.Open(sealed, "kit-1", ident, ca, time.Now())
	require.NoError(t, err)
	assert.Equal(t, pack, got)
}

func waitBytes(ctx context.Context, u *uplink.Uplink, n int64) {
	for ctx.Err() == nil && u.State().BytesSent < n {
		time.Sleep(10 * time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// chainLog is a test AuditLog: a hash chain that grows with add.
type chainLog struct {
	mu      sync.Mutex
	entries []receipt.AuditEntry
}

var _ uplink.AuditLog = (*chainLog)(nil)

func (c *chainLog) add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		var prev []byte
		if len(c.entries) > 0 {
			prev = c.entries[len(c.entries)-1].Hash
		}
		seq := int64(len(c.entries) + 1)
		h := sha256.Sum256(append(append([]byte{}, prev...), byte(seq), byte(seq>>8)))
		c.entries = append(c.entries, receipt.AuditEntry{Seq: seq, At: time.Now().UTC(), Event: "case_delivered", Actor: "kit", PrevHash: prev, Hash: h[:]})
	}
}

func (c *chainLog) AuditEntries(_ context.Context, after int64, limit int) ([]receipt.AuditEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []receipt.AuditEntry
	for _, e := range c.entries {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func TestAuditGoesUpInBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log := &chainLog{}
	log.add(1200)
	u := e.uplink(func(o *uplink.Options) { o.Audit = log; o.VisitInterval = time.Hour; o.Version = "1.4.0" })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	th := e.townhall()
	held := func() int {
		got, err := th.AuditLog(context.Background(), "kit-1")
		require.NoError(t, err)
		return len(got)
	}
	waitFor(t, func() bool { return held() == 1200 })
	log.add(7)
	u.Kick()
	waitFor(t, func() bool { return held() == 1207 })
	cancel()
	require.NoError(t, <-done)
	got, err := th.AuditLog(context.Background(), "kit-1")
	require.NoError(t, err)
	assert.Equal(t, log.entries[1206].Hash, got[1206].Hash)
	v, err := th.KitVersion(context.Background(), "kit-1")
	require.NoError(t, err)
	assert.Equal(t, "1.4.0", v, "the kit's version came with its audit batches")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStoppedAtRandomPoints ends the sender at random points of the sync, 50 times, each time
// starting a fresh one on the same outbox (as after a restart of the agent): nothing is lost
// or duplicated. The SIGKILL version with the real store runs in the agent's tests.
func TestStoppedAtRandomPoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.shape(5, 1000)
	e.seal(20, 20, 120)
	for i := 0; i < 50 && e.outbox.pending() > 0; i++ {
		u := e.uplink(nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+mrand.N(200))*time.Millisecond)
		require.NoError(t, u.Run(ctx))
		cancel()
	}
	e.drain(e.uplink(nil), 60*time.Second)
	e.verify(nil)
}

func TestMissingPacketIsParked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := e.seal(2, 10, 10)
	gone := e.outbox.snapshot()[ids[0]]
	require.NoError(t, os.Remove(gone.PacketPath))
	e.drain(e.uplink(nil), 30*time.Second)
	got := e.outbox.snapshot()
	assert.Equal(t, "packet_missing", got[ids[0]].parked)
	assert.NotNil(t, got[ids[1]].delivered, "the next case is not held up")
	assert.Equal(t, []string{ids[1]}, e.townhallInbox())
}

// TestSlowLinkIsNotAStall: on a slow link the kernel takes the whole body into its buffers at
// once and drains it for seconds; acknowledged bytes count as progress, so nothing is aborted
// or sent twice although the body's own progress stops long before the answer.
func TestSlowLinkIsNotAStall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.shape(20, 250) // 250 kB/s: 2 MB take 8 s, far longer than the stall timeout
	e.seal(1, 2048, 2048)
	var size int64
	for _, it := range e.outbox.snapshot() {
		size = it.Size
	}
	// The receiving proxy's socket buffer swallows a few hundred kB at once and drains them at
	// link speed before the window opens again: the timeout must exceed that drain (about 2 s
	// here), not the whole transfer.
	u := e.uplink(func(o *uplink.Options) { o.StallTimeout = 3 * time.Second })
	e.drain(u, 60*time.Second)
	e.verify(nil)
	st := u.State()
	assert.Zero(t, st.Resumes, "no stall was detected")
	assert.Equal(t, size, st.BytesSent, "nothing was sent twice")
}

func TestUnknownKitIsParked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	th := e.townhall()
	// A certificate from the right CA for a kit the town hall does not know (removed, or
	// never recorded): every case is refused for good, and says why.
	ghost, err := th.CA().Issue("kit-ghost", e.bundle.URL, th.Recipient(), time.Now())
	require.NoError(t, err)
	e.bundle = ghost
	ids := e.seal(2, 10, 10)
	e.drain(e.uplink(nil), 30*time.Second)
	want := map[string]string{}
	for _, id := range ids {
		want[id] = receipt.CodeUnknownKit
	}
	e.verify(want)
}
