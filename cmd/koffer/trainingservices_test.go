package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/web/webtest"
)

// TestTrainingKitAllFourServices is a trainee's first morning: a fresh `koffer agent
// --training` process, the demo login read off its login page, and every service completed in
// chromium from the demo visit pack, the Meldebescheinigung from a visit with a register
// extract (it is offered nowhere else). The training printer's output opens from the case.
// Screenshots go to $KOFFER_SCREENSHOTS when it is set.
func TestTrainingKitAllFourServices(t *testing.T) {
	dir := t.TempDir()
	base := startUI(t, dir, "--training").base
	b := webtest.NewBrowser(t, base, 4*time.Minute)
	shots := newShots(t, b)

	b.Open("/anmelden")
	b.H1("Anmelden", 15*time.Second)
	name := b.Text("#uebungszugang strong:nth-of-type(1)")
	pass := b.Text("#uebungszugang strong:nth-of-type(2)")
	shots.take("anmelden")
	b.Login(name, pass)
	start := b.Text("main")
	for _, who := range []string{"Erika Übungsfrau", "Theo Probemann", "Marta Übungsreich", "Anton Fiktivus"} {
		assert.Contains(t, start, who, "the demo visit pack of today")
	}
	_, tiles, _ := strings.Cut(start, "Neuer Vorgang ohne Termin")
	assert.NotContains(t, tiles, "Meldebescheinigung\n", "no Meldebescheinigung without a visit")
	shots.take("start")
	pack := "uebung-" + time.Now().Format(time.DateOnly)
	visit := func(appointment, service, title string) {
		t.Helper()
		b.Submit(fmt.Sprintf(`.besuch form:has(input[name="visit"][value="%s/%s"]):has(input[name="service"][value="%s"]) button`,
			pack, appointment, service), title, 20*time.Second)
	}
	seal := func(final string) {
		t.Helper()
		b.Submit(`button[value="drucken"]`, "Prüfen und abschließen", time.Minute)
		require.Contains(t, b.Text("main"), final+" gedruckt.")
		b.Submit(`button[value="versiegeln"]`, "abgeschlossen", 30*time.Second)
		shots.take(final)
	}

	// Personalausweis for Theo Probemann: photographer's code, both index fingers.
	visit("uebung-2", "personalausweis", "Angaben zur Person")
	assert.Equal(t, "Probemann", b.Eval(`document.getElementById("f-familienname").value`), "prefilled from the demo pack")
	b.Fill("groesse", "178")
	b.Choose("f-augenfarbe", "grau")
	b.Next("Lichtbild")
	b.Check("f-lichtbild_art-0")
	b.Fill("lichtbild_code", "DM1;https://foto.example/p/2;k=y")
	b.Next("Fingerabdrücke")
	for _, hand := range []string{"left", "right"} {
		for range 3 {
			if strings.Contains(b.Text("#hand-"+hand), "erfasst") {
				break
			}
			b.Submit(fmt.Sprintf(`#hand-%s button[value="erfassen"]`, hand), "Fingerabdrücke", 45*time.Second)
		}
		if !strings.Contains(b.Text("#hand-"+hand), "erfasst") {
			b.Submit(fmt.Sprintf(`#hand-%s button[value="accept"]`, hand), "Fingerabdrücke", 20*time.Second)
		}
		require.Contains(t, b.Text("#hand-"+hand), "erfasst")
	}
	b.Next("Unterschrift")
	b.Sign()
	b.Next("Gebühr")
	b.Check("f-zahlart-0")
	b.Next("Prüfen und abschließen")
	seal("Antragsquittung")
	b.ClickText("Zur Startseite")
	b.H1("Guten Tag", 15*time.Second)

	// Lebensbescheinigung for Anton Fiktivus.
	visit("uebung-4", "lebensbescheinigung", "Angaben zur Person")
	b.Fill("versicherer", "Übungsrentenkasse")
	b.Fill("aktenzeichen", "UE 123456")
	b.Next("Formular der Kasse")
	b.Submit(`button[value="scannen"]`, "Formular der Kasse", time.Minute)
	b.Check("f-persoenlich_unterschrieben")
	b.Check("f-identitaet_geprueft")
	b.Next("Prüfen und abschließen")
	seal("Bestätigung der Lebensbescheinigung")
	b.ClickText("Zur Startseite")
	b.H1("Guten Tag", 15*time.Second)

	// Meldebescheinigung for Erika Übungsfrau, from the register extract of the pack.
	visit("uebung-1", "meldebescheinigung", "Angaben zur Person")
	b.Next("Registerauszug")
	b.Check("f-art-0")
	b.Choose("f-ausweisart", "personalausweis")
	b.Fill("ausweisnummer", "L01X00T47")
	b.Next("Prüfen und abschließen")
	seal("Meldebescheinigung")
	// The trainee opens what the training printer received.
	assert.Equal(t, "application/pdf %PDF-", b.Eval(`(async () => {
		const a = document.querySelector('a.uebungsdruck');
		const r = await fetch(a.getAttribute('href'));
		const t = await r.text();
		return r.headers.get('content-type') + ' ' + t.slice(0, 5); })()`))
	b.ClickText("Zur Startseite")
	b.H1("Guten Tag", 15*time.Second)

	// Wohnsitzanmeldung for Marta Übungsreich, moving in with her son.
	visit("uebung-3", "wohnsitzanmeldung", "Angaben zur Person")
	b.Choose("f-geschlecht", "female")
	b.Choose("f-familienstand", "divorced")
	b.Choose("f-religion", "ev")
	b.Choose("f-ausweisart", "personalausweis")
	b.FillAll(map[string]string{"geburtsname": "Probegern", "ausweisnummer": "L01X00T48", "ausweisbehoerde": "Stadt Beispielhausen",
		"ausweis_ausgestellt": "01.06.2021", "ausweis_gueltig": "31.05.2031"})
	shots.take("meldeschein-person")
	b.Next("Neue und bisherige Anschrift")
	assert.Equal(t, "Alte Übungsgasse", b.Eval(`document.getElementById("f-alt_strasse").value`), "the pack's address is the previous one")
	b.FillAll(map[string]string{"neu_strasse": "Musterhof", "neu_hausnummer": "3", "neu_plz": "12345", "neu_ort": "Musterstadt",
		"einzug": time.Now().AddDate(0, 0, -3).Format("02.01.2006")})
	b.Check("f-wohnung-0")
	b.Next("Mitziehende Familienangehörige")
	b.Choose("f-mit1_beziehung", "child")
	b.Choose("f-mit1_geschlecht", "male")
	b.Choose("f-mit1_familienstand", "single")
	b.FillAll(map[string]string{"mit1_familienname": "Übungsreich", "mit1_vornamen": "Jonas", "mit1_geburtsdatum": "12.04.2014",
		"mit1_geburtsort": "Beispielhausen", "mit1_staatsangehoerigkeit": "DEU"})
	shots.take("familie")
	b.Next("Wohnungsgeberbestätigung")
	b.Submit(`button[value="scannen"]`, "Wohnungsgeberbestätigung", time.Minute)
	b.Check("f-vermieter_geprueft")
	b.Next("Anmeldeformular")
	b.Submit(`button[value="drucken"]`, "Anmeldeformular", time.Minute)
	b.Check("f-formular_unterschrieben")
	b.Next("Unterschrift")
	b.Sign()
	b.Next("Prüfen und abschließen")
	seal("Meldebestätigung")
	b.ClickText("Zur Startseite")
	b.H1("Guten Tag", 15*time.Second)
	assert.Contains(t, b.Text("#status"), "4 Vorgänge warten auf Übertragung")
	shots.take("vier-versiegelt")
}

// shots writes full-page screenshots to $KOFFER_SCREENSHOTS, numbered in order; nothing
// without it.
type shotWriter struct {
	t   *testing.T
	b   *webtest.Browser
	dir string
	n   int
}

func newShots(t *testing.T, b *webtest.Browser) *shotWriter {
	dir := os.Getenv("KOFFER_SCREENSHOTS")
	if dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	return &shotWriter{t: t, b: b, dir: dir}
}

func (s *shotWriter) take(name string) {
	s.t.Helper()
	if s.dir == "" {
		return
	}
	png, err := chromedp.Run(s.b.Ctx, chromedp.FullScreenshot(100)) // 100: PNG
	require.NoError(s.t, err)
	s.n++
	file := fmt.Sprintf("%s-%02d-%s.png", s.t.Name(), s.n, strings.ReplaceAll(strings.ToLower(name), " ", "-"))
	require.NoError(s.t, os.WriteFile(filepath.Join(s.dir, file), png, 0o644))
}
