package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent"
	"koffer/agent/cases"
	"koffer/agent/web"
	"koffer/devices/escl"
	"koffer/devices/peer"
	"koffer/devices/sim"
	"koffer/store"
	"koffer/sync/packet"
)

// The end-to-end test runs the real daemon (`koffer agent --training --listen`) as a process
// with its store in a temporary directory, drives the UI in chromium, kills the agent with
// SIGKILL in the middle of a case and checks that the case resumes at the same step.

type agentProc struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
}

func buildKoffer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "koffer")
	out, err := exec.Command("go", "build", "-o", bin, "koffer/cmd/koffer").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func (p *agentProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, "--data", p.dir, "agent", "--training", "--listen", p.addr)
	p.cmd.Stderr = os.Stderr
	require.NoError(p.t, p.cmd.Start())
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get("http://" + p.addr + "/anmelden")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		require.True(p.t, time.Now().Before(deadline), "agent did not answer: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *agentProc) kill9() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGKILL))
	_ = p.cmd.Wait()
}

func (p *agentProc) stop() {
	if p.cmd != nil && p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	}
}

func newAgentProc(t *testing.T) *agentProc {
	t.Helper()
	p := &agentProc{t: t, bin: buildKoffer(t), dir: t.TempDir(), addr: freeAddr(t)}
	out, err := exec.Command(p.bin, "--data", p.dir, "init", "--training").CombinedOutput()
	require.NoError(t, err, "%s", out)
	pass := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(pass, []byte("korrekt pferd batterie"), 0o600))
	out, err = exec.Command(p.bin, "--data", p.dir, "user", "add", "anna", "--passphrase-file", pass).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(p.stop)
	return p
}

// captureHand captures a hand until it is taken, accepting the best attempt if three stay
// below the threshold (the simulated reader's quality is an estimate).
func (b *Browser) captureHand(hand string) {
	b.t.Helper()
	for range 3 {
		if strings.Contains(b.text("#hand-"+hand), "erfasst") {
			return
		}
		b.submit(fmt.Sprintf(`#hand-%s button[value="erfassen"]`, hand), "Fingerabdrücke")
	}
	if !strings.Contains(b.text("#hand-"+hand), "erfasst") {
		b.submit(fmt.Sprintf(`#hand-%s button[value="accept"]`, hand), "Fingerabdrücke")
	}
	require.Contains(b.t, b.text("#hand-"+hand), "erfasst")
}

func TestEndToEndAgentKilledMidCase(t *testing.T) {
	peer.Need(t, "chromium")
	p := newAgentProc(t)
	p.start()
	b := newBrowser(t, "http://"+p.addr)
	b.login()
	b.a11y("start (agent)")
	b.shot("start")
	assert.Contains(t, b.text("#status"), "Fingerabdruckleser: bereit (Übungsmodus)")
	assert.Contains(t, b.text("#status"), "Drucker: bereit (Übungsmodus)")

	// The technician's page runs the doctor's checks inside the agent, in German.
	b.clickText("Technik")
	b.h1("Technik")
	assert.Contains(t, b.text("main"), "Datenbank")
	b.a11y("technik")
	b.shot("technik")
	b.open("/")
	b.h1("Guten Tag")

	b.clickText("Personalausweis beantragen")
	b.h1("Angaben zur Person")
	for name, v := range map[string]string{"familienname": "Mustermann", "vornamen": "Erika", "geburtsdatum": "12.08.1983",
		"geburtsort": "Köln", "strasse": "Parkallee", "hausnummer": "3", "plz": "50667", "ort": "Köln", "groesse": "168"} {
		b.fill(name, v)
	}
	b.fill("staatsangehoerigkeit", "FRA")
	b.choose("f-augenfarbe", "gruen")
	b.next("Angaben zur Person")
	assert.Contains(t, b.text("#e-staatsangehoerigkeit"), "Einen Personalausweis erhalten nur Deutsche.", "validated by agent/cases")
	b.fill("staatsangehoerigkeit", "DEU")
	b.next("Lichtbild")
	b.check("f-lichtbild_art-0")
	b.fill("lichtbild_code", "DM1;https://foto.example/p/4711;k=geheim")
	b.next("Fingerabdrücke")
	b.captureHand("left")
	b.captureHand("right")
	b.shot("finger")
	b.next("Unterschrift")
	var stepURL string
	b.eval(`location.pathname`, &stepURL)

	// The battery dies: SIGKILL, no shutdown. The saved steps must be there after a restart.
	p.kill9()
	p.start()
	b.open("/")
	b.h1("Anmelden")
	b.do(chromedp.SendKeys(chromedp.CSS("#name"), "anna"), chromedp.SendKeys(chromedp.CSS("#passphrase"), "korrekt pferd batterie\r"))
	b.h1("Guten Tag")
	assert.Contains(t, b.text("main"), "Stand: Unterschrift")
	b.shot("offene-vorgaenge")
	b.clickText("Fortsetzen")
	b.h1("Unterschrift")
	var resumed string
	b.eval(`location.pathname`, &resumed)
	assert.Equal(t, stepURL, resumed, "resumed at the same step")

	b.sign()
	b.next("Gebühr")
	assert.Contains(t, b.text(".gebuehr"), "46,00 EUR")
	b.check("f-zahlart-0")
	b.next("Prüfen und abschließen")
	assert.Contains(t, b.text("main"), "linker Zeigefinger erfasst")
	b.shot("abschluss")

	// Sealing before the receipt is printed is refused; then the training printer prints it
	// and the case is sealed into a packet.
	b.submit(`button[value="versiegeln"]`, "Prüfen und abschließen")
	assert.Contains(t, b.text("#schrittfehler"), "Bitte zuerst die Antragsquittung drucken.")
	b.submit(`button[value="drucken"]`, "Prüfen und abschließen")
	b.submit(`button[value="versiegeln"]`, "abgeschlossen")
	b.shot("versiegelt-nach-absturz")

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p.bin, "--data", p.dir, "queue", "ls", "--json").Output()
	require.NoError(t, err, "%s", out)
	assert.NotContains(t, string(out), "Mustermann", "no personal data in the queue listing")
	var queue []struct{ Service, State string }
	require.NoError(t, json.Unmarshal(out, &queue))
	require.Len(t, queue, 1, "the resumed case is sealed exactly once")
	assert.Equal(t, "personalausweis", queue[0].Service)
	assert.Equal(t, "sealed", queue[0].State)
}

func (b *Browser) fillAll(values map[string]string) {
	b.t.Helper()
	for name, v := range values {
		b.fill(name, v)
	}
}

var e2ePerson = map[string]string{"familienname": "Beispiel", "vornamen": "Hans", "geburtsdatum": "01.03.1950",
	"geburtsort": "Bremen", "staatsangehoerigkeit": "DEU"}
var e2eAddress = map[string]string{"strasse": "Lindenstraße", "hausnummer": "4", "plz": "28195", "ort": "Bremen"}

func (b *Browser) printAndSeal(final string) {
	b.t.Helper()
	b.submit(`button[value="drucken"]`, "Prüfen und abschließen")
	assert.Contains(b.t, b.text("main"), final+" gedruckt.")
	b.submit(`button[value="versiegeln"]`, "abgeschlossen")
	b.shot("versiegelt")
}

func TestEndToEndFourServicesRealAgent(t *testing.T) {
	peer.Need(t, "chromium")
	p := newAgentProc(t) // initialises a training kit and the caseworker with the real CLI
	a, err := agent.New(t.Context(), agent.Options{DataDir: p.dir, Training: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	pr := sim.NewPrinter()
	pr.PageTime = time.Millisecond
	sc, err := sim.StartScanner(sim.ScannerOptions{FeederPages: 2, PageTime: time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sc.Close(context.Background()) })
	scanner, err := escl.New(sc.URL(), escl.Options{})
	require.NoError(t, err)
	srv, err := web.New(web.Options{Backend: a.WebBackend(agent.WebDevices{Printer: pr, Scanner: agent.ESCL{Client: scanner},
		Reader: sim.NewReader(sim.ReaderOptions{}), Training: true}), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	// A training kit has no town hall: today's demo visit pack is stored directly with the
	// data key (the network path, signed and sealed to the visit key, is tested in agent).
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "visits", "2026-11-24.json"))
	require.NoError(t, err)
	today := time.Now().Format("2006-01-02")
	raw = []byte(strings.Replace(string(raw), `"date": "2026-11-24"`, `"date": "`+today+`"`, 1))
	require.NoError(t, a.Login(t.Context(), "anna", []byte("korrekt pferd batterie")))
	key, err := a.DataKey()
	require.NoError(t, err)
	require.NoError(t, a.Store().PutVisitPack(t.Context(), key, store.VisitPack{ID: "pack-1", VisitDate: today}, raw))
	a.Logout()

	b := newBrowser(t, ts.URL)
	b.login()
	assert.Contains(t, b.text("main"), "Hedwig Ottilie Fiktiva", "today's visits on the start page")

	// Personalausweis
	b.clickText("Personalausweis beantragen")
	b.h1("Angaben zur Person")
	b.fillAll(e2ePerson)
	b.fillAll(e2eAddress)
	b.fill("groesse", "176")
	b.choose("f-augenfarbe", "blau")
	b.next("Lichtbild")
	b.check("f-lichtbild_art-0")
	b.fill("lichtbild_code", "DM1;https://foto.example/p/1;k=x")
	b.next("Fingerabdrücke")
	b.captureHand("left")
	b.captureHand("right")
	b.next("Unterschrift")
	b.sign()
	b.next("Gebühr")
	b.check("f-zahlart-1")
	b.next("Prüfen und abschließen")
	b.printAndSeal("Antragsquittung")
	b.clickText("Zur Startseite")
	b.h1("Guten Tag")

	// Lebensbescheinigung
	b.clickText("Lebensbescheinigung")
	b.h1("Angaben zur Person")
	b.fillAll(e2ePerson)
	b.fillAll(e2eAddress)
	b.fill("versicherer", "Deutsche Rentenversicherung")
	b.fill("aktenzeichen", "12 010350 B 001")
	b.next("Formular der Kasse")
	b.submit(`button[value="scannen"]`, "Formular der Kasse")
	b.check("f-persoenlich_unterschrieben")
	b.check("f-identitaet_geprueft")
	b.next("Prüfen und abschließen")
	b.printAndSeal("Bestätigung der Lebensbescheinigung")
	b.clickText("Zur Startseite")
	b.h1("Guten Tag")

	// Meldebescheinigung
	// from the booked visit: its register extract is what the certificate says
	b.submit(`.besuch form:has(input[name="visit"][value="pack-1/termin-1"]):has(input[name="service"][value="meldebescheinigung"]) button`, "Angaben zur Person")
	var prefilled string
	b.eval(`document.getElementById("f-familienname").value`, &prefilled)
	assert.Equal(t, "Fiktiva", prefilled, "prefilled from the visit pack")
	b.next("Registerauszug")
	b.check("f-art-0")
	b.choose("f-ausweisart", "reisepass")
	b.fill("ausweisnummer", "C01X00T47")
	b.next("Prüfen und abschließen")
	b.printAndSeal("Meldebescheinigung")
	b.clickText("Zur Startseite")
	b.h1("Guten Tag")

	// Wohnsitzanmeldung
	b.clickText("Wohnsitz anmelden")
	b.h1("Angaben zur Person")
	b.fillAll(e2ePerson)
	b.choose("f-geschlecht", "female")
	b.choose("f-familienstand", "widowed")
	b.choose("f-ausweisart", "personalausweis")
	b.fillAll(map[string]string{"ausweisnummer": "L01X00T47", "ausweisbehoerde": "Stadt Bremen",
		"ausweis_ausgestellt": "01.06.2021", "ausweis_gueltig": "31.05.2031"})
	b.next("Neue und bisherige Anschrift")
	b.fillAll(map[string]string{"neu_strasse": "Ringweg", "neu_hausnummer": "7", "neu_plz": "28195", "neu_ort": "Bremen",
		"einzug": time.Now().AddDate(0, 0, -5).Format("02.01.2006"), "alt_strasse": "Bahnhofstraße", "alt_hausnummer": "1",
		"alt_plz": "28195", "alt_ort": "Bremen"})
	b.check("f-wohnung-0")
	b.next("Mitziehende Familienangehörige")
	b.next("Wohnungsgeberbestätigung")
	b.submit(`button[value="scannen"]`, "Wohnungsgeberbestätigung")
	b.check("f-vermieter_geprueft")
	b.next("Anmeldeformular")
	b.submit(`button[value="drucken"]`, "Anmeldeformular")
	b.check("f-formular_unterschrieben")
	b.next("Unterschrift")
	// The person cannot sign: the case seals with the waiver and its reason.
	b.check("f-unterschrift_verzicht")
	b.fill("unterschrift_verzicht_grund", "kann nach einem Schlaganfall nicht schreiben")
	b.next("Prüfen und abschließen")
	b.printAndSeal("Meldebestätigung")
	b.clickText("Zur Startseite")
	b.h1("Guten Tag")
	assert.Contains(t, b.text("#status"), "4 Vorgänge warten auf Übertragung")
	b.shot("start-vier-versiegelt")

	cs, err := a.Store().Cases(t.Context(), store.StateSealed)
	require.NoError(t, err)
	require.Len(t, cs, 4, "four sealed packets in the outbox")
	ident, err := a.TrainingIdentity()
	require.NoError(t, err)
	for _, c := range cs {
		assert.Positive(t, c.PacketSize, c.Service)
		it, err := a.Store().Outbox(t.Context(), c.ID)
		require.NoError(t, err)
		data, err := os.ReadFile(it.PacketPath)
		require.NoError(t, err)
		kitKey, err := a.Kit().Bundle.PublicKey()
		require.NoError(t, err)
		pk, err := packet.Open(data, kitKey, ident)
		require.NoError(t, err)
		var form struct {
			Details cases.Details `json:"details"`
		}
		require.NoError(t, json.Unmarshal(pk.Parts[0].Data, &form))
		switch c.Service {
		case string(cases.Personalausweis):
			assert.Equal(t, "card", form.Details.Payment, "the payment method is sealed")
			require.NotNil(t, form.Details.Fingerprints, "the capture record is sealed")
			assert.NotEmpty(t, form.Details.Fingerprints.Attempts)
			for _, part := range pk.Parts {
				if part.Kind == cases.KindFingerprint {
					assert.Equal(t, "fir", cases.Sniff(part.Data), "an ISO/IEC 19794-4 record")
				}
			}
		case string(cases.Wohnsitzanmeldung):
			require.NotNil(t, form.Details.SignatureWaiver, "the waiver is sealed")
			assert.Equal(t, "kann nach einem Schlaganfall nicht schreiben", form.Details.SignatureWaiver.Reason)
		}
	}
	var names []string
	for _, j := range pr.Jobs() {
		assert.True(t, bytes.HasPrefix(j.Data, []byte("%PDF-")), "job %q is a rendered PDF", j.Name)
		names = append(names, j.Name)
	}
	assert.Equal(t, []string{"Antragsquittung Personalausweis", "Bestätigung der Lebensbescheinigung",
		"Meldebescheinigung", "Anmeldeformular", "Meldebestätigung"}, names)
}
