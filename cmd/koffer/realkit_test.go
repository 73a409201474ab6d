package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/client"
	"koffer/agent/localapi"
	"koffer/agent/web/webtest"
	"koffer/devices/escl/escltest"
	"koffer/devices/fingerprint/iso19794"
	"koffer/devices/ipp/ipptest"
	"koffer/devices/peer"
	"koffer/devices/usb/usbtest"
	"koffer/sync/packet"
)

// TestRealKitPersonalausweisAndWohnsitz assembles a real kit and nothing simulated:
//
//   - a non-training `koffer agent` process under umockdev-run, replaying the UPEK TouchChip
//     recording as the kit's fingerprint reader;
//   - the printer a real ippeveprinter (its spool kept) and the scanner an eSCL server answering
//     with a real scanner's capabilities, both named in the kit profile only;
//   - the town hall a real `townhall serve` process the kit is enrolled with.
//
// In chromium a caseworker completes a Personalausweis (one finger from the replayed reader, the
// other hand skipped with a reason, the receipt printed) and a Wohnsitzanmeldung (the landlord's
// confirmation scanned, signed, the confirmation printed). The town hall then opens both
// packets: the fingerprint decodes to the recording's capture.png bit for bit, and every
// printed document is in the printer's spool. That no simulator is in play is asserted on the
// agent's own device list, on its log, and by what only the real peers can produce.
func TestRealKitPersonalausweisAndWohnsitz(t *testing.T) {
	if usbtest.InChild() {
		t.Skip("the agent process runs under umockdev, not this test")
	}
	fixture := usbtest.FixtureDir(t, "libfprint/upektc_img")
	peer.Need(t, "umockdev-run", "chromium", "ippeveprinter")
	ctx := t.Context()

	// The town hall: a real process; the kit is enrolled before it serves.
	townhall := buildTownhall(t)
	thDir := t.TempDir()
	thAddr := freeLoopback(t)
	th := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(townhall, append([]string{"--data", thDir}, args...)...).CombinedOutput()
		require.NoError(t, err, "townhall %s: %s", strings.Join(args, " "), out)
		return out
	}
	bundle := filepath.Join(t.TempDir(), "kit.json")
	th("kit", "add", "koffer-1", "--url", "https://"+thAddr, "--out", bundle)
	serve := exec.Command(townhall, "--data", thDir, "serve", "--listen", thAddr)
	var thLog syncBuffer
	serve.Stderr = &thLog
	require.NoError(t, serve.Start())
	t.Cleanup(func() { _ = serve.Process.Signal(syscall.SIGTERM); _ = serve.Wait() })

	// The kit: enrolled, one caseworker, its devices in the kit profile.
	f, _, errOut := dataFactory(t)
	require.Equal(t, exitOK, run(ctx, []string{"init", "--enroll", bundle}, f), errOut.String())
	pass := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(pass, []byte("korrekt pferd batterie"), 0o600))
	require.Equal(t, exitOK, run(ctx, []string{"user", "add", "anna", "--passphrase-file", pass}, f), errOut.String())

	printer := ipptest.Start(t, ipptest.Options{})
	scanner := escltest.NewFromFixture(t, "HP-LaserJet-MFP-M426fdn", escltest.Behaviour{ADFPages: 1})
	scanSrv := httptest.NewServer(scanner)
	t.Cleanup(scanSrv.Close)
	conf := t.TempDir()
	kitProfile := filepath.Join(conf, "kit.toml")
	require.NoError(t, os.WriteFile(kitProfile, fmt.Appendf(nil, `
[[device]]
kind = "printer"
name = "Testdrucker"
uri  = %q

[[device]]
kind = "scanner"
name = "HP LaserJet MFP M426fdn"
uri  = %q

[[device]]
kind = "fingerprint"
name = "UPEK TouchChip"
usb  = "147e:2016"
`, printer.URI, scanSrv.URL+"/eSCL"), 0o600))
	config := filepath.Join(conf, "koffer.toml")
	uiAddr := freeLoopback(t)
	require.NoError(t, os.WriteFile(config, fmt.Appendf(nil, "listen = %q\nprofile = %q\nauthority_name = \"Stadt Musterstadt – Bürgeramt\"\n", uiAddr, kitProfile), 0o600))

	// The agent: this test binary as koffer, under umockdev-run replaying the reader.
	agent := usbtest.Command(t, fixture, os.Args[0], "agent", "--data", f.DataDir, "--config", config)
	agent.Env = append(os.Environ(), "KOFFER_TEST_MAIN=1")
	var agentLog syncBuffer
	agent.Stderr = &agentLog
	require.NoError(t, agent.Start())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = agent.Process.Signal(syscall.SIGKILL)
			_ = agent.Wait()
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", &agentLog)
		}
	})
	c := client.New(f.DataDir)
	require.Eventually(t, func() bool { _, err := c.Status(ctx); return err == nil }, 20*time.Second, 20*time.Millisecond, "agent not ready:\n%s", &agentLog)

	// Nothing simulated: the agent's own list names the real drivers of the profile.
	// The reader shows as ready once the hot-plug watcher has seen the replayed device.
	var st localapi.Status
	require.Eventually(t, func() bool {
		var err error
		st, err = c.Status(ctx)
		require.NoError(t, err)
		for _, d := range st.Devices {
			if d.State != "ready" {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "devices not ready")
	assert.Equal(t, "live", st.Mode)
	drivers := map[string]string{}
	for _, d := range st.Devices {
		drivers[d.Kind] = d.Driver
	}
	assert.Equal(t, map[string]string{"printer": "ipp", "scanner": "escl", "fingerprint": "usb-reader"}, drivers)

	b := webtest.NewBrowser(t, "http://"+uiAddr, 4*time.Minute)
	b.Login("anna", "korrekt pferd batterie")
	page := b.Text("body")
	assert.NotContains(t, page, "Übungsmodus", "the start page shows no simulator")
	for _, d := range []string{"Drucker", "Scanner", "Fingerabdruckleser"} {
		assert.Contains(t, page, d+": bereit", "the start page lists the same devices as koffer status")
	}
	// The Technik page runs the doctor inside the agent: it must leave the replayed reader
	// alone (listing only), or the capture below would not match the recording.
	b.ClickText("Technik")
	b.H1("Technik", 20*time.Second)
	assert.Contains(t, b.Text("main"), "Fingerabdruckleser")
	b.Open("/")
	b.H1("Guten Tag", 15*time.Second)

	// Personalausweis: one finger from the reader, the right hand skipped with a reason.
	b.ClickText("Personalausweis beantragen")
	b.H1("Angaben zur Person", 15*time.Second)
	b.FillAll(map[string]string{"familienname": "Beispiel", "vornamen": "Hans", "geburtsdatum": "01.03.1950",
		"geburtsort": "Bremen", "staatsangehoerigkeit": "DEU", "strasse": "Lindenstraße", "hausnummer": "4", "plz": "28195", "ort": "Bremen"})
	b.Fill("groesse", "176")
	b.Choose("f-augenfarbe", "blau")
	b.Next("Lichtbild")
	b.Check("f-lichtbild_art-0")
	b.Fill("lichtbild_code", "DM1;https://foto.example/p/1;k=x")
	b.Next("Fingerabdrücke")
	b.Submit(`#hand-left button[value="erfassen"]`, "Fingerabdrücke", 45*time.Second)
	// The recording holds one capture, scored by the built-in estimate, which never reaches a
	// threshold on its own: the operator decides to take it.
	b.Submit(`#hand-left button[value="accept"]`, "Fingerabdrücke", 20*time.Second)
	require.Contains(t, b.Text("#hand-left"), "linker Zeigefinger erfasst")
	b.Choose("grund-right", "injured")
	b.Submit(`#hand-right button[value="none"]`, "Fingerabdrücke", 20*time.Second)
	require.Contains(t, b.Text("#hand-right"), "Kein Abdruck dieser Hand")
	b.Next("Unterschrift")
	b.Sign()
	b.Next("Gebühr")
	b.Check("f-zahlart-1")
	b.Next("Prüfen und abschließen")
	b.Submit(`button[value="drucken"]`, "Prüfen und abschließen", time.Minute)
	require.Contains(t, b.Text("main"), "Antragsquittung gedruckt.")
	b.Submit(`button[value="versiegeln"]`, "abgeschlossen", 30*time.Second)
	b.ClickText("Zur Startseite")
	b.H1("Guten Tag", 15*time.Second)

	// Wohnsitzanmeldung: the landlord's confirmation scanned, signed, confirmation printed.
	b.ClickText("Wohnsitz anmelden")
	b.H1("Angaben zur Person", 15*time.Second)
	b.FillAll(map[string]string{"familienname": "Beispiel", "vornamen": "Hans", "geburtsdatum": "01.03.1950",
		"geburtsort": "Bremen", "staatsangehoerigkeit": "DEU", "ausweisnummer": "L01X00T47", "ausweisbehoerde": "Stadt Bremen",
		"ausweis_ausgestellt": "01.06.2021", "ausweis_gueltig": "31.05.2031"})
	b.Choose("f-geschlecht", "male")
	b.Choose("f-familienstand", "single")
	b.Choose("f-ausweisart", "personalausweis")
	b.Next("Neue und bisherige Anschrift")
	b.FillAll(map[string]string{"neu_strasse": "Ringweg", "neu_hausnummer": "7", "neu_plz": "28195", "neu_ort": "Bremen",
		"einzug": time.Now().AddDate(0, 0, -5).Format("02.01.2006"), "alt_strasse": "Bahnhofstraße", "alt_hausnummer": "1",
		"alt_plz": "28195", "alt_ort": "Bremen"})
	b.Check("f-wohnung-0")
	b.Next("Mitziehende Familienangehörige")
	b.Next("Wohnungsgeberbestätigung")
	b.Submit(`button[value="scannen"]`, "Wohnungsgeberbestätigung", time.Minute)
	b.Check("f-vermieter_geprueft")
	b.Next("Anmeldeformular")
	b.Submit(`button[value="drucken"]`, "Anmeldeformular", time.Minute)
	b.Check("f-formular_unterschrieben")
	// The person cannot sign: a waiver with its reason instead of a signature.
	b.Next("Unterschrift")
	b.Check("f-unterschrift_verzicht")
	b.Fill("unterschrift_verzicht_grund", "kann nach einem Schlaganfall nicht schreiben")
	b.Next("Prüfen und abschließen")
	b.Submit(`button[value="drucken"]`, "Prüfen und abschließen", time.Minute)
	b.Submit(`button[value="versiegeln"]`, "abgeschlossen", 30*time.Second)
	assert.Positive(t, scanner.Requests("POST ScanJobs"), "the document came from the eSCL server")

	// Both packets reach the town hall.
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.Equal(t, exitOK, run(sctx, []string{"sync", "--wait", "--timeout", "50s"}, f), "%s\n%s", errOut.String(), &agentLog)
	var inbox []struct {
		CaseID  string `json:"case_id"`
		Service string `json:"service"`
	}
	require.NoError(t, json.Unmarshal(th("inbox", "ls", "--json"), &inbox))
	require.Len(t, inbox, 2, "both cases at the town hall")
	want := usbtest.LoadGray(t, filepath.Join(fixture, "capture.png"))
	services := map[string]bool{}
	for _, in := range inbox {
		services[in.Service] = true
		out := t.TempDir()
		th("inbox", "open", in.CaseID, "--out", out)
		var m packet.Manifest
		raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &m))
		var prints int
		for _, p := range m.Parts {
			if p.Kind != "fingerprint" {
				continue
			}
			prints++
			data, err := os.ReadFile(filepath.Join(out, p.Name))
			require.NoError(t, err)
			got := decodeFingerprint(t, data)
			assert.Equal(t, want.Rect.Size(), got.Rect.Size(), "image size")
			assert.True(t, bytes.Equal(want.Pix, got.Pix), "the sealed fingerprint is the recording's capture.png bit for bit")
		}
		raw, err = os.ReadFile(filepath.Join(out, "form.json"))
		require.NoError(t, err)
		var form struct {
			Person struct {
				FamilyName string `json:"family_name"`
			} `json:"person"`
			Details struct {
				Payment     string         `json:"payment"`
				PhotoSource string         `json:"photo_source"`
				Capture     *cases.Capture `json:"fingerprint_capture"`
				Waiver      *cases.Waiver  `json:"signature_waiver"`
			} `json:"details"`
			Attachments []struct{ Kind, Finger string } `json:"attachments"`
		}
		require.NoError(t, json.Unmarshal(raw, &form), "%s", raw)
		assert.Equal(t, "Beispiel", form.Person.FamilyName)
		kinds := map[string]string{}
		for _, a := range form.Attachments {
			kinds[a.Kind] = a.Finger
		}
		d := form.Details
		if in.Service == "personalausweis" {
			assert.Equal(t, 1, prints, "one finger captured, the other hand skipped")
			assert.Equal(t, map[string]string{"fingerprint": "left_index", "signature": ""}, kinds)
			assert.Equal(t, "card", d.Payment, "the payment method chosen")
			assert.Equal(t, "photographer", d.PhotoSource)
			require.NotNil(t, d.Capture, "the capture procedure is sealed")
			require.NotEmpty(t, d.Capture.Attempts)
			for _, at := range d.Capture.Attempts {
				assert.Equal(t, "left_index", at.Finger)
				assert.Equal(t, cases.MethodEstimate, at.Method, "the score says it is an estimate")
			}
			assert.Contains(t, d.Capture.Decisions, cases.FingerDecision{Hand: "left", Finger: "left_index", Action: cases.FingerAccept},
				"the operator took the capture below the threshold")
			var none *cases.FingerDecision
			for i, dec := range d.Capture.Decisions {
				if dec.Hand == "right" && dec.Action == cases.FingerNone {
					none = &d.Capture.Decisions[i]
				}
			}
			require.NotNil(t, none, "the right hand skipped: %+v", d.Capture.Decisions)
			assert.Equal(t, "injured", none.Reason)
			assert.Nil(t, d.Waiver)
		} else {
			assert.Zero(t, prints)
			assert.Equal(t, map[string]string{"scan": ""}, kinds, "no signature: the waiver instead")
			require.NotNil(t, d.Waiver, "the waiver is sealed")
			assert.Equal(t, "kann nach einem Schlaganfall nicht schreiben", d.Waiver.Reason)
		}
	}
	assert.Equal(t, map[string]bool{"personalausweis": true, "wohnsitzanmeldung": true}, services)

	// Printed: the receipt, the registration form and the confirmation, each a PDF in the spool.
	spool := printer.SpoolFiles(t)
	assert.Len(t, spool, 3, "ippeveprinter spool: %v", spool)
	for _, p := range spool {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(data, []byte("%PDF-")), "%s is the PDF sent", p)
	}

	// A graceful stop; then the log shows the real drivers and no simulator.
	require.NoError(t, agent.Process.Signal(syscall.SIGTERM))
	require.NoError(t, agent.Wait(), "agent exit:\n%s", &agentLog)
	stopped = true
	logs := agentLog.String()
	assert.Contains(t, logs, "driver=usb-reader")
	assert.NotContains(t, logs, "driver=sim")
	assert.NotContains(t, logs, "buffer mismatch", "the replay saw exactly the recorded transfers")
}

// decodeFingerprint decodes a sealed fingerprint part: an ISO/IEC 19794-4 record (what the
// packet holds once the capture flow writes records) or, as the UI stores it today, a PNG.
func decodeFingerprint(t *testing.T, data []byte) *image.Gray {
	t.Helper()
	if bytes.HasPrefix(data, []byte("FIR\x00")) {
		rec, err := iso19794.Parse(data)
		require.NoError(t, err)
		require.Len(t, rec.Views, 1)
		img, err := rec.Image(rec.Views[0])
		require.NoError(t, err)
		return img
	}
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	g, ok := img.(*image.Gray)
	require.True(t, ok, "the fingerprint is 8-bit gray, got %T", img)
	return g
}

// buildTownhall builds cmd/townhall into the test's temporary directory.
func buildTownhall(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "townhall")
	out, err := exec.Command("go", "build", "-o", bin, "koffer/cmd/townhall").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}
