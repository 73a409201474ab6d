package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
	"koffer/store"
	"koffer/sync/packet"
	"koffer/sync/townhall"
	"koffer/sync/uplink"
)

// smallDisk mounts a tmpfs of size bytes for the test (root only).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		peer.Missing(t, "a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		peer.Missing(t, "cannot mount a tmpfs: "+err.Error())
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fillDisk writes a file in dir until the file system is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			break
		}
	}
	for { // the last blocks, a byte at a time
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
	return name
}

// fillingOutbox fills the disk just as the first receipt arrives: the town hall has the case,
// the kit cannot store its receipt.
type fillingOutbox struct {
	outbox
	fill     func()
	once     sync.Once
	delivers atomic.Int64
}

func (o *fillingOutbox) Deliver(ctx context.Context, caseID string, r uplink.Receipt) error {
	o.once.Do(o.fill)
	o.delivers.Add(1)
	return o.outbox.Deliver(ctx, caseID, r)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), sub)
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFullDiskWhileDelivering: the town hall accepts a case but the kit's disk is full, so the
// receipt cannot be stored. The sender backs off instead of spinning (CPU stays low, one error
// line, a few attempts), and once space returns the case is delivered exactly once.
func TestFullDiskWhileDelivering(t *testing.T) {
	disk := smallDisk(t, "8m")
	ctx := t.Context()

	th, err := townhall.Open(ctx, t.TempDir(), townhall.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer th.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	bundle, err := th.AddKit(ctx, "kit-1", "https://"+ln.Addr().String())
	require.NoError(t, err)
	cfg, err := th.ServerTLS()
	require.NoError(t, err)
	sctx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- th.Serve(sctx, ln, cfg) }()
	defer func() { stopServe(); <-served }()

	s, err := store.Open(ctx, disk, store.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer s.Close()
	key, err := bundle.SigningKey()
	require.NoError(t, err)
	rcpt, err := bundle.AgeRecipient()
	require.NoError(t, err)
	sealer := &packet.Sealer{KitID: bundle.KitID, Key: key, Recipient: rcpt}
	id := uuid.Must(uuid.NewV7()).String()
	scan := make([]byte, 256<<10)
	_, _ = rand.Read(scan)
	_, err = s.SealCase(ctx, store.NewCase{ID: id, Service: "wohnsitzanmeldung", Actor: "cli"}, func(w io.Writer) error {
		_, err := sealer.Seal(w, packet.Manifest{CaseID: id, Service: "wohnsitzanmeldung", CreatedAt: time.Now()}, []packet.Part{
			{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"wohnsitzanmeldung"}`)},
			{Name: "scan-1.pdf", Kind: packet.KindScan, Data: scan},
		})
		return err
	})
	require.NoError(t, err)

	var filler string
	full := make(chan struct{})
	ob := &fillingOutbox{outbox: outbox{s}, fill: func() { filler = fillDisk(t, disk); close(full) }}
	var logs lockedBuffer
	u, err := uplink.New(uplink.Options{
		Bundle: bundle, Outbox: ob, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		BackoffBase: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond, VisitInterval: time.Hour,
	})
	require.NoError(t, err)
	rctx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- u.Run(rctx) }()
	defer func() { stopRun(); <-ran }()

	select {
	case <-full:
	case <-time.After(20 * time.Second):
		t.Fatal("the case never reached the town hall")
	}
	// Three seconds on a full disk. With backoff 100..400 ms that is about a dozen tries; a
	// busy loop makes thousands and burns a core.
	cpu0, wall0, tries0 := cpuTime(t), time.Now(), ob.delivers.Load()
	time.Sleep(3 * time.Second)
	cpu, wall, tries := cpuTime(t)-cpu0, time.Since(wall0), ob.delivers.Load()-tries0
	c, err := s.Case(ctx, id)
	require.NoError(t, err)
	assert.NotEqual(t, store.StateDelivered, c.State, "the receipt could not be stored")
	assert.LessOrEqual(t, tries, int64(25), "backs off, does not spin")
	assert.Less(t, cpu, wall/4, "CPU stays low: %v of %v", cpu, wall)
	assert.Equal(t, 1, logs.lines("level=ERROR"), "said once: %s", logs.b.String())
	assert.LessOrEqual(t, logs.lines("\n"), 3, "a few log lines, not thousands")
	assert.Equal(t, "kit_storage", u.State().LastError)
	t.Logf("full disk for %v: %d tries, %v CPU, %d log lines", wall.Round(time.Millisecond), tries, cpu, logs.lines("\n"))

	// Space returns: delivered, exactly once.
	require.NoError(t, os.Remove(filler))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err = s.Case(ctx, id)
		require.NoError(t, err)
		if c.State == store.StateDelivered || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, store.StateDelivered, c.State, "delivered once space returned: %s", logs.b.String())
	assert.Equal(t, 1, logs.lines("msg=outboxRecovered"))
	inbox, err := th.Inbox(ctx)
	require.NoError(t, err)
	require.Len(t, inbox, 1, "exactly once at the town hall")
	assert.Equal(t, id, inbox[0].CaseID)
	r, err := s.Receipt(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, inbox[0].Receipt, r.Number)
	ents, err := os.ReadDir(filepath.Join(disk, store.PacketsDir))
	require.NoError(t, err)
	assert.Empty(t, ents, "the packet is gone after delivery")
}
