package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/documents"
	"koffer/agent/keys"
	"koffer/agent/localapi"
	"koffer/agent/web"
	"koffer/devices"
	"koffer/devices/inventory"
	"koffer/devices/ipp/ipptest"
	"koffer/devices/profile"
)

func mustProfile(t *testing.T, toml string) *profile.Profile {
	t.Helper()
	p, err := profile.Parse([]byte(toml))
	require.NoError(t, err)
	return p
}

func stateOf(t *testing.T, list []localapi.Device, kind devices.Kind) localapi.Device {
	t.Helper()
	for _, d := range list {
		if d.Kind == string(kind) {
			return d
		}
	}
	t.Fatalf("no %s in %v", kind, list)
	return localapi.Device{}
}

// A real kit without a device of a kind has none: the UI and status say it is not set up, in
// German, and no simulator stands in.
func TestBuildDevicesWithoutProfile(t *testing.T) {
	k, err := buildDevices(false, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Nil(t, k.web.Printer)
	assert.Nil(t, k.web.Scanner)
	assert.Nil(t, k.web.Reader)
	assert.False(t, k.web.Training)
	states := k.states()
	require.Len(t, states, 3)
	for _, d := range states {
		assert.Equal(t, DeviceNotConfigured, d.State, d.Kind)
		assert.Contains(t, d.Hint, "eingerichtet. Bitte die Technik verständigen.")
		assert.NotEqual(t, "sim", d.Driver)
	}
	assert.Equal(t, "Kein Fingerabdruckleser eingerichtet. Bitte die Technik verständigen.", stateOf(t, states, devices.Fingerprint).Hint)
}

func TestBuildDevicesFromProfile(t *testing.T) {
	prof := mustProfile(t, `
[[device]]
kind = "printer"
name = "Brother"
usb  = "04f9:2042"

[[device]]
kind = "scanner"
uri  = "http://192.168.8.20/eSCL"

[[device]]
kind    = "fingerprint"
command = ["/usr/lib/koffer/reader-helper", "--model", "x"]
`)
	k, err := buildDevices(false, prof, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.IsType(t, profilePrinter{}, k.web.Printer)
	assert.IsType(t, profileScanner{}, k.web.Scanner)
	assert.IsType(t, profileReader{}, k.web.Reader)
	k.attached = func() []inventory.USBDevice { return []inventory.USBDevice{{ID: "04f9:2042"}} }
	states := k.states()
	assert.Equal(t, localapi.Device{Kind: "printer", Name: "Brother", Driver: "ipp-usb", Address: "04f9:2042", State: DeviceReady}, stateOf(t, states, devices.Printer))
	assert.Equal(t, "escl", stateOf(t, states, devices.Scanner).Driver)
	fp := stateOf(t, states, devices.Fingerprint)
	assert.Equal(t, "extproc", fp.Driver)
	assert.Equal(t, "/usr/lib/koffer/reader-helper", fp.Address)

	// Before the watcher's first listing nothing is known yet: not reported missing.
	k.attached = func() []inventory.USBDevice { return nil }
	assert.Equal(t, DeviceReady, stateOf(t, k.states(), devices.Printer).State)

	// Unplugged: the watcher lists the bus without it.
	k.attached = func() []inventory.USBDevice { return []inventory.USBDevice{{ID: "1d6b:0002"}} }
	pr := stateOf(t, k.states(), devices.Printer)
	assert.Equal(t, DeviceMissing, pr.State)
	assert.Contains(t, pr.Hint, "Drucker ist nicht angeschlossen")
}

func TestBuildDevicesTraining(t *testing.T) {
	k, err := buildDevices(true, mustProfile(t, "[[device]]\nkind = \"printer\"\nuri = \"ipp://p/ipp/print\""), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = k.close(context.Background()) })
	assert.True(t, k.web.Training)
	for _, d := range k.states() {
		assert.Equal(t, "sim", d.Driver, "training ignores the profile: %s", d.Kind)
		assert.Equal(t, DeviceReady, d.State)
	}
}

func TestBuildDevicesRejects(t *testing.T) {
	tests := []struct{ name, toml, want string }{
		{"reader on the network", "[[device]]\nkind = \"fingerprint\"\nuri = \"http://r/\"", "not a uri"},
		{"scanner over ipp", "[[device]]\nkind = \"scanner\"\nuri = \"ipp://s/eSCL\"", "bad scanner url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildDevices(false, mustProfile(t, tt.toml), slog.New(slog.DiscardHandler))
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// TestProfilePrinterRealPrinter: the profile's network printer prints a rendered certificate
// on a real IPP printer, byte for byte what was sent, opened for the job only; an unreachable
// printer is an error the device's state then shows.
func TestProfilePrinterRealPrinter(t *testing.T) {
	p := ipptest.Start(t, ipptest.Options{})
	cert := documents.Anmeldebestaetigung{
		Issue:  documents.Issue{Authority: documents.Authority{Name: "Stadt Musterstadt – Bürgeramt"}, CaseID: "0194b8f0-0000-7000-8000-000000000001", Issued: time.Now(), Place: "Musterstadt", Caseworker: "kit-1"},
		Person: documents.Person{FamilyName: "Beispiel", GivenNames: "Jürgen"},
	}
	var want bytes.Buffer
	require.NoError(t, documents.WritePDF(cert, &want))

	k, err := buildDevices(false, mustProfile(t, "[[device]]\nkind = \"printer\"\nuri = \""+p.URI+"\""), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	res, err := k.web.Printer.Print(t.Context(), documents.Document(cert), nil)
	require.NoError(t, err)
	got, err := os.ReadFile(p.JobFile(t, res.JobID))
	require.NoError(t, err)
	assert.Equal(t, want.Bytes(), got)
	assert.Equal(t, DeviceReady, stateOf(t, k.states(), devices.Printer).State)

	k, err = buildDevices(false, mustProfile(t, "[[device]]\nkind = \"printer\"\nuri = \"ipp://localhost:1/ipp/print\""), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err = k.web.Printer.Print(ctx, documents.Document(cert), nil)
	assert.Error(t, err, "an unreachable printer is an error, not a silent success")
	assert.Equal(t, DeviceFailed, stateOf(t, k.states(), devices.Printer).State)
}

// With no IPP-over-USB scanner attached (this machine has no USB devices), the profile's USB
// scanner fails the job with the scanner's code and German hint.
func TestProfileScannerUSBWithoutDevice(t *testing.T) {
	k, err := buildDevices(false, mustProfile(t, "[[device]]\nkind = \"scanner\"\nusb = \"03f0:2b17\""), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, err = k.web.Scanner.ScanDocument(t.Context())
	var de *devices.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, devices.Scanner, de.Kind)
	assert.Regexp(t, `scanner\.usb-(not-found|unavailable)`, de.Code)
	assert.NotEmpty(t, de.Hint)
}

// One job at a time runs on a device; a job that cannot wait for the device's turn ends with
// the German "busy" hint instead of blocking the caseworker.
func TestDeviceJobsOneAtATime(t *testing.T) {
	d := newKitDevice(devices.Scanner, "escl", slog.New(slog.DiscardHandler))
	inJob, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- d.job(t.Context(), func() error { close(inJob); <-release; return nil })
	}()
	<-inJob
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := d.job(ctx, func() error { t.Error("second job ran beside the first"); return nil })
	var de *devices.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "scanner.busy", de.Code)
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, d.job(t.Context(), func() error { return nil }), "the device is free again")
}

// The profile's SDK helper is a real process the reader starts for the capture; the image it
// sends is what the UI gets.
func TestProfileReaderSDKHelper(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(g.Pix, []byte{0, 40, 80, 120, 160, 200})
	var pngBuf bytes.Buffer
	require.NoError(t, png.Encode(&pngBuf, g))
	answer := fmt.Sprintf(`{"ok":true,"image":{"width":3,"height":2,"ppi":500,"png":%q}}`, base64.StdEncoding.EncodeToString(pngBuf.Bytes()))
	helper := filepath.Join(t.TempDir(), "reader-helper")
	require.NoError(t, os.WriteFile(helper, []byte("#!/bin/sh\nread req\necho '"+answer+"'\nread req\n"), 0o755))

	k, err := buildDevices(false, mustProfile(t, "[[device]]\nkind = \"fingerprint\"\ncommand = [\""+helper+"\"]"), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	img, err := k.web.Reader.Capture(t.Context())
	require.NoError(t, err)
	assert.Equal(t, g.Pix, img.Gray.Pix)
	assert.Equal(t, 500, img.PPI)
}

// The profile's USB reader is opened at each capture: without it attached (this machine has no
// USB devices) the capture fails with the reader's code and German hint, and the next capture
// tries again rather than keeping a dead handle.
func TestProfileReaderUSBNotAttached(t *testing.T) {
	k, err := buildDevices(false, mustProfile(t, "[[device]]\nkind = \"fingerprint\"\nusb = \"147e:2016\""), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	for range 2 {
		_, err = k.web.Reader.Capture(t.Context())
		var de *devices.Error
		require.ErrorAs(t, err, &de)
		assert.Equal(t, devices.Fingerprint, de.Kind)
		assert.NotEmpty(t, de.Hint)
	}
	assert.Equal(t, DeviceFailed, stateOf(t, k.states(), devices.Fingerprint).State)
}

// blockingScanner holds every scan until released.
type blockingScanner struct{ started, release chan struct{} }

func (s blockingScanner) ScanDocument(ctx context.Context) ([]byte, error) {
	close(s.started)
	select {
	case <-s.release:
		return nil, errors.New("scan released")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// A long scan on one case holds that case only: a caseworker (or a second tab) can save a step
// of another case meanwhile.
func TestScanHoldsItsCaseOnly(t *testing.T) {
	a := newTestAgent(t, Options{})
	dk, err := keys.NewDataKey()
	require.NoError(t, err)
	w, err := keys.Wrap(dk, []byte("richtige Passphrase"), keys.Params{Time: 1, MemKiB: 1024, Threads: 1})
	require.NoError(t, err)
	_, err = a.Store().AddCaseworker(t.Context(), "mmeier", w)
	require.NoError(t, err)
	require.NoError(t, a.Login(t.Context(), "mmeier", []byte("richtige Passphrase")))
	sc := blockingScanner{started: make(chan struct{}), release: make(chan struct{})}
	b := a.WebBackend(WebDevices{Scanner: sc})
	one, err := b.CreateCase(t.Context(), "mmeier", web.Wohnsitzanmeldung, "")
	require.NoError(t, err)
	two, err := b.CreateCase(t.Context(), "mmeier", web.Wohnsitzanmeldung, "")
	require.NoError(t, err)

	scanned := make(chan error, 1)
	go func() {
		_, err := b.Scan(t.Context(), web.Change{CaseID: one.ID, Version: one.Version, Key: "k1", Caseworker: "mmeier"}, "vermieter")
		scanned <- err
	}()
	<-sc.started
	saved := make(chan error, 1)
	go func() {
		_, err := b.SaveStep(t.Context(), web.Change{CaseID: two.ID, Version: two.Version, Key: "k2", Caseworker: "mmeier"}, two.Step, map[string]string{"familienname": "Beispiel"})
		saved <- err
	}()
	select {
	case <-saved:
	case <-time.After(10 * time.Second):
		t.Fatal("saving another case waited for the scan")
	}
	close(sc.release)
	assert.ErrorContains(t, <-scanned, "scan released")
}
