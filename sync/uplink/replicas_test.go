package uplink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
	"koffer/sync/enroll"
	"koffer/sync/packet"
	"koffer/sync/townhall/thtest"
	"koffer/sync/uplink"
)

// TestReplicasShareOnePostgresAndS3: two `townhall serve` processes on one PostgreSQL and one
// S3 server behind a round-robin proxy (a new connection for every request of the kit, so its
// requests alternate). One replica is SIGKILLed while it receives an upload; the kit resumes
// on the other. All 20 cases arrive exactly once and open byte-identical, the receipts are
// numbered 1..20 across both replicas without gaps or duplicates, and no upload stays locked:
// the dead replica's lock is taken over once its lease has run out.
func TestReplicasShareOnePostgresAndS3(t *testing.T) {
	if os.Getenv(backendEnv) != "" {
		t.Skip("runs once, with its own servers")
	}
	goTool := peer.Need(t, "go")[0]
	dsn, err := thtest.Postgres(t)
	if errors.Is(err, thtest.ErrMissing) {
		peer.Missing(t, err.Error())
	}
	require.NoError(t, err)
	s3, err := thtest.StartS3(t)
	if errors.Is(err, thtest.ErrMissing) {
		peer.Missing(t, err.Error())
	}
	require.NoError(t, err)
	objects := s3.Objects("region")
	const lease = 2 * time.Second

	bin := filepath.Join(t.TempDir(), "townhall")
	build := exec.Command(goTool, "build", "-o", bin, "koffer/cmd/townhall")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build townhall: %s", out)

	// The round-robin proxy, rate-limited so that a kill lands mid-upload.
	rr := newRoundRobin(t, 400<<10)

	// Replica A makes the keys and enrolls the kit; replica B gets a copy of the keys, as a
	// provider rolls out its replicas. Both share PostgreSQL and the bucket.
	dirA, dirB := t.TempDir(), t.TempDir()
	common := []string{"--db", dsn, "--objects", objects}
	kitFile := filepath.Join(t.TempDir(), "kit.json")
	out, err = exec.Command(bin, append([]string{"kit", "add", "kit-1", "--data", dirA, "--url", "https://" + rr.addr(), "--out", kitFile}, common...)...).CombinedOutput()
	require.NoError(t, err, "kit add: %s", out)
	for _, f := range []string{"ca.pem", "ca.key", "receipt.pem", "receipt.key", "identity.txt"} {
		b, err := os.ReadFile(filepath.Join(dirA, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dirB, f), b, 0o600))
	}
	replicas := []*replica{
		startReplica(t, bin, dirA, append(common, "--lock-lease", lease.String())),
		startReplica(t, bin, dirB, append(common, "--lock-lease", lease.String())),
	}
	rr.setBackends(replicas[0].addr, replicas[1].addr)

	raw, err := os.ReadFile(kitFile)
	require.NoError(t, err)
	bundle, err := enroll.Parse(raw)
	require.NoError(t, err)
	e := &env{t: t, thDir: dirA, kitDir: t.TempDir(), outbox: newMemOutbox(), parts: map[string][]packet.Part{},
		bundle: bundle, be: townhallBackend{db: dsn, objects: objects}}
	e.seal(20, 100, 300)
	cfg, err := bundle.ClientTLS()
	require.NoError(t, err)
	u := e.uplink(func(o *uplink.Options) {
		o.URL = "https://" + rr.addr()
		o.Transport = &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true} // every request a new connection
		o.StallTimeout = 3 * time.Second
	})

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()

	// Kill the replica that holds an upload's lock (it is receiving or committing that upload)
	// once a few cases are through. tus_locks.holder names the replica's process.
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	for e.outbox.deliveredCount() < 5 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	victim := -1
	for victim < 0 && ctx.Err() == nil {
		var holders []string
		rows, err := conn.Query(ctx, `SELECT holder FROM tus_locks WHERE expires_at > now()`)
		require.NoError(t, err)
		for rows.Next() {
			var h string
			require.NoError(t, rows.Scan(&h))
			holders = append(holders, h)
		}
		rows.Close()
		for i, r := range replicas {
			for _, h := range holders {
				if strings.Contains(h, fmt.Sprintf("/%d/", r.cmd.Process.Pid)) {
					victim = i
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.GreaterOrEqual(t, victim, 0, "a replica held an upload")
	require.NoError(t, replicas[victim].cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	_ = replicas[victim].cmd.Wait()
	rr.drop(victim)
	t.Logf("killed replica %d mid-upload after %d cases", victim, e.outbox.deliveredCount())

	for e.outbox.pending() > 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
	require.Zero(t, e.outbox.pending(), "all cases delivered (state %+v)", u.State())
	t.Logf("drained %v after the kill; requests per replica %v", time.Since(killed).Round(time.Millisecond), rr.counts())
	for i, n := range rr.counts() {
		assert.Positive(t, n, "replica %d served requests", i)
	}
	assert.Positive(t, u.State().Resumes, "the cut upload was resumed from the offset the other replica reported")

	e.verify(nil) // every case exactly once, byte-identical after opening, no packet left on the kit
	inbox, err := e.townhall().Inbox(context.Background())
	require.NoError(t, err)
	var numbers []string
	for _, c := range inbox {
		numbers = append(numbers, c.Receipt)
	}
	sort.Strings(numbers)
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprintf("TH-%d-%06d", inbox[0].ReceivedAt.Year(), i+1)
	}
	assert.Equal(t, want, numbers, "receipts numbered without gaps or duplicates across replicas")

	var held int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM tus_locks WHERE expires_at > now()`).Scan(&held))
	assert.Zero(t, held, "no upload stays locked")
	var stale int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM tus_locks WHERE expires_at > $1`, killed.Add(lease+time.Second)).Scan(&stale))
	assert.Zero(t, stale, "the dead replica's lock ran out with its lease")
}

type replica struct {
	cmd  *exec.Cmd
	addr string
}

func startReplica(t *testing.T, bin, dir string, args []string) *replica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cmd := exec.Command(bin, append([]string{"serve", "--data", dir, "--listen", addr}, args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if os.Getenv("KOFFER_TEST_LOG") != "" {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "replica listening on %s", addr)
		time.Sleep(20 * time.Millisecond)
	}
	return &replica{cmd: cmd, addr: addr}
}

// roundRobin is a TCP proxy that sends each new connection to the next live backend and limits
// each direction of a connection to rate bytes/s.
type roundRobin struct {
	t    *testing.T
	ln   net.Listener
	rate int

	mu       sync.Mutex
	backends []string
	dead     map[int]bool
	next     int
	served   []int
}

func newRoundRobin(t *testing.T, rate int) *roundRobin {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &roundRobin{t: t, ln: ln, rate: rate, dead: map[int]bool{}}
	t.Cleanup(func() { _ = ln.Close() })
	go r.serve()
	return r
}

func (r *roundRobin) addr() string { return r.ln.Addr().String() }

func (r *roundRobin) setBackends(addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backends = addrs
	r.served = make([]int, len(addrs))
}

func (r *roundRobin) drop(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead[i] = true
}

func (r *roundRobin) counts() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.served...)
}

func (r *roundRobin) pick() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range r.backends {
		i := r.next % len(r.backends)
		r.next++
		if !r.dead[i] {
			r.served[i]++
			return i, r.backends[i]
		}
	}
	return -1, ""
}

func (r *roundRobin) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.handle(c)
	}
}

func (r *roundRobin) handle(c net.Conn) {
	defer c.Close()
	_, addr := r.pick()
	if addr == "" {
		return
	}
	b, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return
	}
	defer b.Close()
	go func() {
		_, _ = io.Copy(c, b)
		_ = c.Close()
	}()
	r.copyUp(b, c)
}

// copyUp copies the kit's bytes to a backend at the proxy's rate.
func (r *roundRobin) copyUp(dst net.Conn, src net.Conn) {
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			time.Sleep(time.Duration(n) * time.Second / time.Duration(r.rate))
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "closed") {
				r.t.Logf("proxy: %v", err)
			}
			_ = dst.(*net.TCPConn).CloseWrite()
			return
		}
	}
}
