package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/devices"
	"koffer/devices/fingerprint"
	"koffer/devices/fingerprint/usbreader"
	"koffer/devices/peer"
	"koffer/store"
	"koffer/sync/enroll"
)

func trainingKit(t *testing.T, dir string) *enroll.Bundle {
	t.Helper()
	b, id, err := enroll.NewTraining("kit-test")
	require.NoError(t, err)
	require.NoError(t, keys.SaveKit(dir, &keys.Kit{Bundle: b, Training: true, TownHall: id.String()}))
	return b
}

func TestDisk(t *testing.T) {
	tests := []struct {
		name string
		d    Disk
		want Status
	}{
		{name: "plenty", d: Disk{Dir: t.TempDir(), WarnBelow: 1, FailBelow: 1}, want: OK},
		{name: "below warn", d: Disk{Dir: t.TempDir(), WarnBelow: 1 << 62, FailBelow: 1}, want: Warn},
		{name: "below fail", d: Disk{Dir: t.TempDir(), WarnBelow: 1 << 62, FailBelow: 1 << 61}, want: Fail},
		{name: "missing dir", d: Disk{Dir: filepath.Join(t.TempDir(), "nope")}, want: Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.d.Run(t.Context())
			assert.Equal(t, tt.want, r.Status, r.Value)
			if tt.want != OK {
				assert.NotEmpty(t, r.HintDE)
			} else {
				assert.Contains(t, r.Value, "GiB free")
			}
		})
	}
}

func TestStoreChecksOnHealthyStore(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	st, err := store.Open(t.Context(), dir, store.Options{Now: func() time.Time { return now }})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Audit(t.Context(), "test.event", "", "tester"))

	assert.Equal(t, OK, (&Database{St: st}).Run(t.Context()).Status)
	assert.Equal(t, OK, (&Audit{St: st}).Run(t.Context()).Status)
	q := (&Queue{St: st}).Run(t.Context())
	assert.Equal(t, OK, q.Status)
	assert.Contains(t, q.Value, "0 waiting")
}

func TestCorruptedDatabaseFails(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(t.Context(), dir, store.Options{})
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, st.Audit(t.Context(), "fill", "", string(rune('a'+i%26))))
	}
	require.NoError(t, st.Close())
	// Overwrite the middle of the file (past the header page) with garbage.
	p := filepath.Join(dir, store.DBName)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Greater(t, len(b), 8192)
	for i := 4096; i < len(b); i++ {
		b[i] = 0xA5
	}
	require.NoError(t, os.WriteFile(p, b, 0o600))

	st2, openErr := store.Open(t.Context(), dir, store.Options{})
	if st2 != nil {
		t.Cleanup(func() { st2.Close() })
	}
	var s Store
	if st2 != nil {
		s = st2
	}
	rep := Run(t.Context(), []Check{&Database{St: s, OpenErr: openErr}, &Audit{St: s, OpenErr: openErr}, &Queue{St: s, OpenErr: openErr}}, Options{})
	db := resultOf(t, rep, "database")
	assert.Equal(t, Fail, db.Status, db.Value)
	assert.Contains(t, []string{"database.corrupt", "database.open"}, db.Code)
	assert.Contains(t, db.HintDE, "beschädigt")
	assert.Equal(t, Fail, rep.Status)
}

func TestDatabaseGarbageFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, store.DBName), []byte("this is not a database at all, just text"), 0o600))
	st, err := store.Open(t.Context(), dir, store.Options{})
	require.Error(t, err, "precondition: store refuses garbage")
	require.Nil(t, st)
	r := (&Database{OpenErr: err}).Run(t.Context())
	assert.Equal(t, Fail, r.Status)
	assert.Equal(t, "database.open", r.Code)
}

type fakeStore struct {
	stats store.QueueStats
	err   error
}

var _ Store = (*fakeStore)(nil)

func (f *fakeStore) IntegrityCheck(context.Context) error                 { return f.err }
func (f *fakeStore) QueueStats(context.Context) (store.QueueStats, error) { return f.stats, f.err }
func (f *fakeStore) VerifyAudit(context.Context) error                    { return f.err }

func TestQueueAge(t *testing.T) {
	tests := []struct {
		name string
		st   fakeStore
		want Status
		code string
	}{
		{name: "empty", want: OK},
		{name: "fresh", st: fakeStore{stats: store.QueueStats{Depth: 3, OldestAge: time.Hour}}, want: OK},
		{name: "eight days", st: fakeStore{stats: store.QueueStats{Depth: 3, OldestAge: 8 * 24 * time.Hour}}, want: Warn, code: "queue.old"},
		{name: "parked", st: fakeStore{stats: store.QueueStats{Depth: 1, Parked: 1}}, want: Warn, code: "queue.parked"},
		{name: "error", st: fakeStore{err: errors.New("disk I/O error")}, want: Fail, code: "queue.unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&Queue{St: &tt.st}).Run(t.Context())
			assert.Equal(t, tt.want, r.Status)
			assert.Equal(t, tt.code, r.Code)
		})
	}
}

func TestAuditBroken(t *testing.T) {
	r := (&Audit{St: &fakeStore{err: errors.New("audit entry 7: hash mismatch")}}).Run(t.Context())
	assert.Equal(t, Fail, r.Status)
	assert.Equal(t, "audit.broken", r.Code)
}

func TestKeys(t *testing.T) {
	t.Run("present", func(t *testing.T) {
		dir := t.TempDir()
		trainingKit(t, dir)
		r := (&Keys{Dir: dir}).Run(t.Context())
		assert.Equal(t, OK, r.Status)
		assert.Contains(t, r.Value, "kit-test (training)")
	})
	t.Run("missing", func(t *testing.T) {
		r := (&Keys{Dir: t.TempDir()}).Run(t.Context())
		assert.Equal(t, Fail, r.Status)
		assert.Equal(t, "keys.missing", r.Code)
	})
	t.Run("damaged", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, keys.BundleFile), []byte(`{"version":1,"kit_id":"x"}`), 0o600))
		r := (&Keys{Dir: dir}).Run(t.Context())
		assert.Equal(t, Fail, r.Status)
		assert.Equal(t, "keys.invalid", r.Code)
	})
	t.Run("unreadable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads any file")
		}
		dir := t.TempDir()
		trainingKit(t, dir)
		require.NoError(t, os.Chmod(filepath.Join(dir, keys.BundleFile), 0))
		r := (&Keys{Dir: dir}).Run(t.Context())
		assert.Equal(t, Fail, r.Status)
		assert.Equal(t, "keys.unreadable", r.Code)
	})
}

func TestCertExpiry(t *testing.T) {
	dir := t.TempDir()
	b := trainingKit(t, dir)
	na, err := b.CertNotAfter()
	require.NoError(t, err)
	tests := []struct {
		name string
		now  time.Time
		want Status
	}{
		{name: "fresh", now: na.AddDate(-1, 0, 0), want: OK},
		{name: "ten days left", now: na.Add(-10 * 24 * time.Hour), want: Warn},
		{name: "expired", now: na.Add(time.Hour), want: Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&Cert{Dir: dir, Now: func() time.Time { return tt.now }}).Run(t.Context())
			assert.Equal(t, tt.want, r.Status, r.Value)
			assert.Contains(t, r.Value, na.UTC().Format(time.DateOnly))
		})
	}
}

func TestFingerprint(t *testing.T) {
	model := usbreader.Models()[0]
	one := func(context.Context) ([]usbreader.Found, error) {
		return []usbreader.Found{{Model: model, Bus: 1, Address: 4}}, nil
	}
	tests := []struct {
		name     string
		c        Fingerprint
		want     Status
		code     string
		contains string
	}{
		{name: "attached", c: Fingerprint{Discover: one}, want: OK, contains: model.ID.String()},
		{name: "opens", c: Fingerprint{Discover: one, Open: func(context.Context) error { return nil }}, want: OK, contains: "opens"},
		{name: "none", c: Fingerprint{Discover: func(context.Context) ([]usbreader.Found, error) { return nil, nil }}, want: Fail, code: "fingerprint.not-found"},
		{name: "open fails with device error", c: Fingerprint{Discover: one, Open: func(context.Context) error {
			return fingerprint.Failf(fingerprint.CodeAccess, "no permission")
		}}, want: Fail, code: fingerprint.CodeAccess},
		{name: "enumerate fails", c: Fingerprint{Discover: func(context.Context) ([]usbreader.Found, error) {
			return nil, &devices.Error{Kind: devices.Fingerprint, Code: "fingerprint.transfer", Hint: "Leser prüfen.", Err: errors.New("libusb")}
		}}, want: Fail, code: "fingerprint.transfer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.Run(t.Context())
			assert.Equal(t, tt.want, r.Status, r.Value)
			assert.Equal(t, tt.code, r.Code)
			assert.Contains(t, r.Value, tt.contains)
			if tt.want == Fail {
				assert.NotEmpty(t, r.HintDE)
			}
		})
	}
}

// TestKeysWarnsOnUnprotectedKitKey: an enrolled kit whose key lies in kit.json is a warning;
// one sealed by a systemd credential is fine.
func TestKeysWarnsOnUnprotectedKitKey(t *testing.T) {
	b, _, err := enroll.NewTraining("kit-1")
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, keys.SaveKit(dir, &keys.Kit{Bundle: b}))
	r := (&Keys{Dir: dir}).Run(t.Context())
	assert.Equal(t, Warn, r.Status)
	assert.Equal(t, "keys.unprotected", r.Code)

	peer.Need(t, "systemd-creds")
	dir = t.TempDir()
	require.NoError(t, keys.SaveKitProtected(dir, &keys.Kit{Bundle: b}, keys.Protection{Creds: true}))
	r = (&Keys{Dir: dir}).Run(t.Context())
	assert.Equal(t, OK, r.Status, r.Value)
	assert.Contains(t, r.Value, "key: systemd-creds")
}
