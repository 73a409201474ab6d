package agent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/keys"
	"koffer/agent/localapi"
	"koffer/store"
	"koffer/sync/enroll"
)

// testCAs holds the CA of each newTestAgent kit by data directory: tests sign visit packs as
// its town hall would (enroll.NewTraining throws the CA away).
var testCAs sync.Map

func newTestAgent(tb testing.TB, opts Options) *Agent {
	tb.Helper()
	dir := tb.TempDir()
	ca, err := enroll.NewCA("koffer training CA", time.Now())
	require.NoError(tb, err)
	id, err := age.GenerateX25519Identity()
	require.NoError(tb, err)
	b, err := ca.Issue("kit-test", "", id.Recipient().String(), time.Now())
	require.NoError(tb, err)
	testCAs.Store(dir, ca)
	require.NoError(tb, keys.SaveKit(dir, &keys.Kit{Bundle: b, Training: true, TownHall: id.String()}))
	opts.DataDir = dir
	opts.Training = true
	a, err := New(context.Background(), opts)
	require.NoError(tb, err)
	tb.Cleanup(func() { a.Close() })
	return a
}

func request(tb testing.TB, name string) localapi.SubmitRequest {
	tb.Helper()
	dir := filepath.Join("..", "testdata", "cases", "valid", name)
	raw, err := os.ReadFile(filepath.Join(dir, "case.json"))
	require.NoError(tb, err)
	f, err := cases.Parse(raw)
	require.NoError(tb, err)
	root, err := os.OpenRoot(dir)
	require.NoError(tb, err)
	defer root.Close()
	files, missing := cases.ReadAttachments(tb.Context(), root, f)
	require.Empty(tb, missing)
	return localapi.SubmitRequest{Case: raw, Files: files}
}

func TestSubmitSealsAPacketTheTownHallCanOpen(t *testing.T) {
	var woken []string
	a := newTestAgent(t, Options{OnSealed: func(id string) { woken = append(woken, id) }})
	ctx := t.Context()
	req := request(t, "personalausweis")
	res, err := a.Submit(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, "sealed", res.State)
	assert.Equal(t, "46,00 EUR", res.Fee)
	assert.Equal(t, []string{res.ID}, woken, "the uplink is woken")

	p := openPacket(t, a, res.ID)
	assert.Equal(t, res.ID, p.Manifest.CaseID)
	assert.Equal(t, "personalausweis", p.Manifest.Service)
	kinds := map[string]int{}
	for _, part := range p.Parts {
		kinds[part.Kind]++
	}
	assert.Equal(t, map[string]int{"form": 1, "photo": 1, "fingerprint": 2, "signature": 1}, kinds)
	assert.Contains(t, string(p.Parts[0].Data), "Quendelmann", "the form is in the packet, readable by the town hall only")

	// Same id again: nothing new.
	req.ID = res.ID
	again, err := a.Submit(ctx, req)
	require.NoError(t, err)
	assert.True(t, again.Duplicate)
	cs, err := a.Cases(ctx)
	require.NoError(t, err)
	assert.Len(t, cs, 1)
}

func TestSubmitRejects(t *testing.T) {
	a := newTestAgent(t, Options{})
	ctx := t.Context()
	tests := []struct {
		name string
		req  func() localapi.SubmitRequest
		want string
	}{
		{name: "v4 id", want: "UUIDv7", req: func() localapi.SubmitRequest {
			r := request(t, "meldebescheinigung")
			r.ID = uuid.NewString()
			return r
		}},
		{name: "attachment missing", want: "attachments[1].file: file not found", req: func() localapi.SubmitRequest {
			r := request(t, "wohnsitzanmeldung")
			r.Files = r.Files[:1]
			return r
		}},
		{name: "attachment swapped", want: "attachments[1].file: file is pdf, a signature must be", req: func() localapi.SubmitRequest {
			r := request(t, "wohnsitzanmeldung")
			r.Files[0], r.Files[1] = r.Files[1], r.Files[0]
			return r
		}},
		{name: "not json", want: "case file: wrong type", req: func() localapi.SubmitRequest {
			return localapi.SubmitRequest{Case: []byte(`"x"`)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Submit(ctx, tt.req())
			assert.ErrorContains(t, err, tt.want)
		})
	}
	cs, err := a.Cases(ctx)
	require.NoError(t, err)
	assert.Empty(t, cs)
}

func TestLogin(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a := newTestAgent(t, Options{Now: func() time.Time { return now }})
	ctx := t.Context()
	addCaseworker(t, a, "mmeier", "richtige Passphrase")

	_, err := a.DataKey()
	assert.ErrorIs(t, err, store.ErrNoKey)
	assert.ErrorIs(t, a.Login(ctx, "mmeier", []byte("falsche Passphrase")), keys.ErrWrongPassphrase)
	assert.ErrorIs(t, a.Login(ctx, "nobody", []byte("richtige Passphrase")), store.ErrNotFound)
	require.NoError(t, a.Login(ctx, "mmeier", []byte("richtige Passphrase")))

	aead, err := a.DataKey()
	require.NoError(t, err)
	require.NoError(t, a.Store().CreateDraft(ctx, store.NewCase{ID: "d", Service: "meldebescheinigung"}))
	require.NoError(t, a.Store().SaveStep(ctx, aead, "d", "person", []byte("x")))

	now = now.Add(16 * time.Minute)
	_, err = a.DataKey()
	assert.ErrorIs(t, err, store.ErrNoKey, "locked after 15 idle minutes")
}

func TestServeLocksDataDir(t *testing.T) {
	a := newTestAgent(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	sock := filepath.Join(a.opts.DataDir, "koffer.sock")
	require.Eventually(t, func() bool { _, err := os.Stat(sock); return err == nil }, 10*time.Second, 5*time.Millisecond)

	b, err := New(t.Context(), Options{DataDir: a.opts.DataDir, Training: true})
	require.NoError(t, err)
	assert.ErrorContains(t, b.Serve(t.Context()), "another koffer agent")

	cancel()
	require.NoError(t, <-done)
	assert.NoFileExists(t, sock, "removed on graceful shutdown")
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want string
	}{
		{name: "ok", toml: "listen = \"127.0.0.1:8765\"\nlog_level = \"debug\"\nidle_lock = \"10m\"\n"},
		{name: "typo", toml: "listne = \"127.0.0.1:8765\"\n", want: "unknown key(s) listne"},
		{name: "bad level", toml: "log_level = \"loud\"\n", want: "log_level"},
		{name: "bad format", toml: "log_format = \"xml\"\n", want: "log_format"},
		{name: "not toml", toml: "listen = \n", want: "config"},
		{name: "old printer key", toml: "printer = \"ipp://p/ipp/print\"\n", want: `key "printer": the kit's devices are described in the kit profile`},
		{name: "old scanner key", toml: "scanner = \"http://s/eSCL\"\n", want: `key "scanner"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "koffer.toml")
			require.NoError(t, os.WriteFile(p, []byte(tt.toml), 0o600))
			c, err := LoadConfig(p)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Equal(t, "127.0.0.1:8765", c.Listen)
				assert.Equal(t, 10*time.Minute, c.IdleLock)
				return
			}
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// The store's state names are the state machine's.
func TestStatesMatchStore(t *testing.T) {
	assert.Equal(t,
		[]string{store.StateDraft, store.StateSealed, store.StateUploading, store.StateDelivered, store.StatePurged, store.StateCancelled},
		[]string{string(cases.Draft), string(cases.Sealed), string(cases.Uploading), string(cases.Delivered), string(cases.Purged), string(cases.Cancelled)})
	assert.Len(t, cases.States, 6)
}

// Serve tells systemd when it is ready (Type=notify) and when it stops.
// fakeSystemd points NOTIFY_SOCKET at a socket of the test and returns a reader of the
// messages the agent sends there.
func fakeSystemd(t *testing.T) (read func() string) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	return func() string {
		buf := make([]byte, 256)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		n, err := conn.Read(buf)
		require.NoError(t, err)
		return string(buf[:n])
	}
}

func TestServeNotifiesSystemd(t *testing.T) {
	a := newTestAgent(t, Options{})
	read := fakeSystemd(t)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	assert.Equal(t, "READY=1", read())
	_, err := os.Stat(filepath.Join(a.opts.DataDir, "koffer.sock"))
	assert.NoError(t, err, "the socket exists before READY")
	cancel()
	assert.Equal(t, "STOPPING=1", read())
	require.NoError(t, <-done)
}

func TestPurgeDelivered(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a := newTestAgent(t, Options{Now: func() time.Time { return now }})
	ctx := t.Context()
	res, err := a.Submit(ctx, request(t, "meldebescheinigung"))
	require.NoError(t, err)
	require.NoError(t, a.Store().Deliver(ctx, res.ID, store.Receipt{Number: "TH-1", Time: now}))

	n, err := a.PurgeDelivered(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "kept for a day")
	now = now.Add(25 * time.Hour)
	n, err = a.PurgeDelivered(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	c, err := a.Store().Case(ctx, res.ID)
	require.NoError(t, err)
	assert.Equal(t, store.StatePurged, c.State)
	assert.Equal(t, "TH-1", c.ReceiptNumber, "ids and the receipt number stay")
}
