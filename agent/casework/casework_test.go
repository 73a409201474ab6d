package casework

import (
	"context"
	"crypto/cipher"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/keys"
	"koffer/store"
)

type keyring struct{ aead cipher.AEAD }

func (k keyring) DataKey() (cipher.AEAD, error) { return k.aead, nil }

// newCore is a core on a real store in a temporary directory, logged in.
func newCore(t *testing.T, dev Devices) *Core {
	t.Helper()
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	dk, err := keys.NewDataKey()
	require.NoError(t, err)
	aead, err := dk.AEAD()
	require.NoError(t, err)
	return New(Options{Store: st, Keys: keyring{aead}, Devices: dev})
}

// heldScanner blocks inside ScanDocument until released.
type heldScanner struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *heldScanner) ScanDocument(ctx context.Context) ([]byte, error) {
	s.once.Do(func() { close(s.entered) })
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []byte("%PDF-1.4\n%fake scan\n"), nil
}

// TestSlowScanDoesNotHoldOtherCases: a scan that takes minutes holds its own case and the
// scanner, not the kit: another case's step is saved meanwhile.
func TestSlowScanDoesNotHoldOtherCases(t *testing.T) {
	sc := &heldScanner{entered: make(chan struct{}), release: make(chan struct{})}
	k := newCore(t, Devices{Scanner: sc})
	ctx := t.Context()
	a, err := k.CreateCase(ctx, "anna", cases.Wohnsitzanmeldung, "", "person")
	require.NoError(t, err)
	b, err := k.CreateCase(ctx, "anna", cases.Wohnsitzanmeldung, "", "person")
	require.NoError(t, err)

	scanned := make(chan error, 1)
	go func() {
		_, err := k.Scan(ctx, Change{CaseID: a.ID, Version: a.Version, Key: "scan-a"}, "vermieter")
		scanned <- err
	}()
	<-sc.entered

	saved := make(chan error, 1)
	go func() {
		_, err := k.SaveStep(ctx, Change{CaseID: b.ID, Version: b.Version, Key: "step-b", Next: "adresse"}, "person",
			StepInput{Fields: map[string]string{"person.family_name": "Muster"}})
		saved <- err
	}()
	select {
	case err := <-saved:
		require.NoError(t, err)
	case <-time.After(10 * time.Second): // a guard against a deadlock, not a timing assumption
		t.Fatal("a step of another case waited for the scan")
	}
	close(sc.release)
	require.NoError(t, <-scanned)
	got, err := k.Case(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Scans["vermieter"])
	got, err = k.Case(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, "Muster", got.Values["person.family_name"])
}

// TestCoreImportsNoAdapter: the core is used by the UI, the local API and the wiring, never
// the other way round.
func TestCoreImportsNoAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "koffer/agent/casework").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		assert.NotContains(t, []string{"koffer/agent", "koffer/agent/web", "koffer/agent/client"}, dep)
		assert.False(t, strings.HasPrefix(dep, "koffer/cmd/"), dep)
	}
}

// TestOverviewDevices: without a device list of its own the start page names each missing
// device in German; a DeviceStates hook (the kit profile) replaces the list.
func TestOverviewDevices(t *testing.T) {
	k := newCore(t, Devices{Scanner: &heldScanner{}})
	ov, err := k.Overview(t.Context())
	require.NoError(t, err)
	require.Len(t, ov.Devices, 3)
	assert.False(t, ov.Devices[0].Ready())
	assert.Equal(t, "Kein Drucker eingerichtet. Bitte die Technik verständigen.", ov.Devices[0].Hint)
	assert.True(t, ov.Devices[1].Ready(), "the scanner is there")

	k.opts.DeviceStates = func(context.Context) []Device {
		return []Device{{Kind: "printer", Name: "HP OfficeJet", State: "ready"}}
	}
	ov, err = k.Overview(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Device{{Kind: "printer", Name: "HP OfficeJet", State: "ready"}}, ov.Devices)
}
