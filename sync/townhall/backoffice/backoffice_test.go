package backoffice_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/packet"
	"koffer/sync/townhall"
	"koffer/sync/townhall/backoffice"
	"koffer/sync/townhall/backoffice/backofficetest"
	"koffer/sync/visit"
)

var (
	_ backoffice.TownHall = (*townhall.Townhall)(nil)
	_ backoffice.TownHall = (*backofficetest.Fake)(nil)
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// console serves the back office over the fake with two accounts and returns a client that
// keeps cookies but does not follow redirects.
func console(t *testing.T, opts backoffice.Options) (*backofficetest.Fake, *httptest.Server, *clock) {
	t.Helper()
	fake := backofficetest.NewFake()
	for name, role := range map[string]string{"erika": townhall.RoleCaseworker, "admin": townhall.RoleAdmin} {
		h, err := backoffice.HashPassphrase("richtig langes passwort")
		require.NoError(t, err)
		fake.Staff[name] = townhall.Staff{Name: name, Role: role, Hash: h}
	}
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	opts.Now, opts.Insecure = clk.now, true
	bo, err := backoffice.New(fake, opts)
	require.NoError(t, err)
	srv := httptest.NewServer(bo.Handler())
	t.Cleanup(srv.Close)
	return fake, srv, clk
}

type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newClient(t *testing.T, srv *httptest.Server) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, base: srv.URL, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.hc.Get(b.base + path)
	require.NoError(b.t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := csrfRE.FindStringSubmatch(string(body)); m != nil {
		b.csrf = m[1]
	}
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.hc.PostForm(b.base+path, form)
	require.NoError(b.t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *browser) login(name, pass string) *http.Response {
	b.t.Helper()
	b.get("/anmelden")
	resp, _ := b.post("/anmelden", url.Values{"csrf": {b.csrf}, "name": {name}, "passwort": {pass}})
	b.get("/eingang")
	return resp
}

func TestBackOfficeSessionCSRFIdleLockAndRoles(t *testing.T) {
	fake, srv, clk := console(t, backoffice.Options{IdleLock: 15 * time.Minute})
	b := newClient(t, srv)

	resp, _ := b.get("/eingang")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/anmelden", resp.Header.Get("Location"))

	// A login without the form's token does nothing; a wrong passphrase says so in German.
	b.get("/anmelden")
	resp, _ = b.post("/anmelden", url.Values{"csrf": {"falsch"}, "name": {"erika"}, "passwort": {"richtig langes passwort"}})
	assert.Equal(t, "/anmelden", resp.Header.Get("Location"))
	resp, body := b.post("/anmelden", url.Values{"csrf": {b.csrf}, "name": {"erika"}, "passwort": {"daneben daneben"}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, body, "Name oder Passwort stimmen nicht")

	resp = b.login("erika", "richtig langes passwort")
	assert.Equal(t, "/eingang", resp.Header.Get("Location"))
	resp, body = b.get("/eingang")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Contains(t, body, "Posteingang")

	// Without the token a state change is refused; a clerk may not revoke a kit.
	resp, _ = b.post("/flotte/kit-1/sperren", url.Values{"grund": {"verloren"}, "bestaetigt": {"ja"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, body = b.post("/flotte/kit-1/sperren", url.Values{"csrf": {b.csrf}, "grund": {"verloren"}, "bestaetigt": {"ja"}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, body, "Rolle Administration")
	assert.Empty(t, fake.Revoked)

	// 16 idle minutes lock the session; only erika's passphrase unlocks it, back where she was.
	clk.add(16 * time.Minute)
	resp, _ = b.get("/flotte")
	assert.Equal(t, "/anmelden", resp.Header.Get("Location"))
	_, body = b.get("/anmelden")
	assert.Contains(t, body, "Gesperrt")
	resp, _ = b.post("/anmelden", url.Values{"csrf": {b.csrf}, "name": {"admin"}, "passwort": {"richtig langes passwort"}})
	assert.Equal(t, "/flotte", resp.Header.Get("Location"), "the locked session resumes for its owner")
	resp, body = b.get("/flotte")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "erika (Sachbearbeitung)", "the name typed is ignored while locked")

	// Someone else at a locked browser starts afresh, and erika's session is gone.
	clk.add(16 * time.Minute)
	b.get("/flotte")
	b.get("/anmelden")
	resp, _ = b.post("/anmelden/andere", url.Values{"csrf": {b.csrf}})
	assert.Equal(t, "/anmelden", resp.Header.Get("Location"))
	_, body = b.get("/anmelden")
	assert.NotContains(t, body, "Gesperrt")
	resp, _ = b.get("/flotte")
	assert.Equal(t, "/anmelden", resp.Header.Get("Location"))

	// An administrator may revoke.
	a := newClient(t, srv)
	a.login("admin", "richtig langes passwort")
	resp, _ = a.post("/flotte/kit-1/sperren", url.Values{"csrf": {a.csrf}, "grund": {"gestohlen"}, "bestaetigt": {"ja"}})
	assert.Equal(t, "/flotte?ok=gesperrt", resp.Header.Get("Location"))
	assert.Equal(t, "admin", fake.Revoked["kit-1"])

	assert.Equal(t, []string{"loginFailed", "loginSucceeded", "sessionLocked", "loginSucceeded", "sessionLocked", "loggedOut", "loginSucceeded"}, fake.Events())
}

func TestBackOfficeHandoverZipFollowsSchema(t *testing.T) {
	drop := t.TempDir()
	fake, srv, _ := console(t, backoffice.Options{DropDir: drop})
	id := "0193a0b4-0000-7000-8000-000000000001"
	parts := []packet.Part{
		{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"personalausweis","person":{"family_name":"Muster","given_names":"Erika"}}`)},
		{Name: "fingerprint-1.fir", Kind: packet.KindFingerprint, Finger: "right_index", Data: []byte("FIR\x00010\x00")},
		{Name: "signature-2.png", Kind: packet.KindSignature, Data: []byte("\x89PNG\r\n\x1a\nsig")},
		{Name: "scan-3.pdf", Kind: packet.KindScan, Data: []byte("%PDF-1.7\n%scan")},
	}
	m := packet.Manifest{Version: 1, CaseID: id, Service: "personalausweis", KitID: "kit-1", CreatedAt: time.Now(), SealedAt: time.Now()}
	for _, p := range parts {
		m.Parts = append(m.Parts, packet.PartInfo{Name: p.Name, Kind: p.Kind, Finger: p.Finger, Size: int64(len(p.Data)), SHA256: sha(p.Data)})
	}
	fake.Packets[id] = &packet.Packet{Manifest: m, Parts: parts}
	fake.Summary = []townhall.CaseSummary{{CaseID: id, Number: "TH-2026-000001", Service: "personalausweis", Kit: "kit-1", ReceivedAt: time.Now()}}

	b := newClient(t, srv)
	b.login("erika", "richtig langes passwort")
	_, body := b.get("/fall/" + id)
	assert.Contains(t, body, "Muster")
	assert.Contains(t, body, "rechter Zeigefinger")
	assert.Contains(t, body, `<iframe class="scan" src="/fall/`+id+`/datei/scan-3.pdf"`)
	resp, err := b.hc.Get(b.base + "/fall/" + id + "/datei/scan-3.pdf")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "application/pdf", resp.Header.Get("Content-Type"), "the scan is shown inline")
	assert.Contains(t, resp.Header.Get("Content-Disposition"), "inline")
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	resp, err = b.hc.Get(b.base + "/fall/" + id + "/datei/fingerprint-1.fir")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "fingerprint records are only shown as images")
	resp, _ = b.post("/fall/"+id+"/uebergeben", url.Values{"csrf": {b.csrf}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	zipped := readFile(t, drop+"/TH-2026-000001_"+id+".zip")
	h, files := backofficetest.CheckHandover(t, zipped)
	assert.Equal(t, "koffer-handover", h["format"])
	assert.Equal(t, "erika", h["handed_over_by"])
	assert.Contains(t, files, "files/fingerprint-1.fir", "the registration software gets the fingerprints")
	assert.Equal(t, "erika", fake.HandedOf[id])
	_, body = b.get("/fall/" + id)
	assert.Contains(t, body, "nach der Übergabe im Rathaus gelöscht", "the fingerprints went with the hand-over rule")
}

func TestBackOfficeImportsRegisterExport(t *testing.T) {
	fake, srv, _ := console(t, backoffice.Options{})
	fake.Kits = []townhall.KitStatus{{ID: "kit-1"}, {ID: "kit-2", RevokedAt: time.Now()}}
	b := newClient(t, srv)
	b.login("erika", "richtig langes passwort")
	upload := func(kit, csv string) *http.Response {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		require.NoError(t, mw.WriteField("csrf", b.csrf))
		require.NoError(t, mw.WriteField("koffer", kit))
		fw, err := mw.CreateFormFile("datei", "export.csv")
		require.NoError(t, err)
		_, _ = fw.Write([]byte(csv))
		require.NoError(t, mw.Close())
		resp, err := b.hc.Post(b.base+"/besuche/import", mw.FormDataContentType(), &buf)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	csv := "datum;uhrzeit;ort;leistungen;familienname;vornamen\n03.12.2026;09:30;Zimmer 3;personalausweis;Muster;Erika\n04.12.2026;10:00;Zimmer 4;lebensbescheinigung;Muster;Max\n"
	resp := upload("kit-2", csv)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "no visits for a revoked kit")
	resp = upload("kit-1", csv)
	assert.Equal(t, "/besuche?ok=import", resp.Header.Get("Location"))
	assert.Len(t, fake.Visits["kit-1"], 2, "one pack per day")
	assert.Empty(t, fake.Visits["kit-2"])
	assert.Equal(t, []string{"loginSucceeded", "visitsImported", "visitsImported"}, fake.Events())
}

func TestParseRegisterExport(t *testing.T) {
	header := "datum;uhrzeit;ort;leistungen;familienname;vornamen;geburtsdatum;geburtsort;staatsangehoerigkeit;strasse;hausnummer;postleitzahl;wohnort;wohnungsart\n"
	tests := []struct {
		name      string
		in        string
		wantPacks int
		wantErr   string
	}{
		{name: "two days, semicolons", wantPacks: 2, in: header +
			"03.12.2026;09:30;Pflegeheim Abendrot, Zimmer 12;meldebescheinigung;Muster;Erika;1931-02-03;Köln;DEU;Marktplatz;1;12345;Musterstadt;alleinige Wohnung\n" +
			"2026-12-04;10:00;Zu Hause;personalausweis lebensbescheinigung;Beispiel;Max;;;;;;;;\n"},
		{name: "commas", wantPacks: 1, in: strings.ReplaceAll(header, ";", ",") + "03.12.2026,09:30,Zimmer 3,personalausweis,Muster,Erika,,,,,,,,\n"},
		{name: "json pack", wantPacks: 1, in: `{"version":1,"date":"2026-12-03","appointments":[{"id":"a1","time":"09:00","place":"Zimmer 1","services":["personalausweis"],"person":{"family_name":"M","given_names":"E","birth_date":"","birth_place":"","nationality":"","address":{"street":"","house_number":"","postal_code":"","city":""}}}]}`},
		{name: "missing column", in: "datum;uhrzeit\n03.12.2026;09:30\n", wantErr: "fehlt die Spalte"},
		{name: "bad date names the row", in: header + "3.13.2026;09:30;Zimmer;personalausweis;M;E;;;;;;;;\n", wantErr: "Zeile 2"},
		{name: "meldebescheinigung needs the register", in: header + "03.12.2026;09:30;Zimmer;meldebescheinigung;M;E;;;;;;;;\n", wantErr: "Wohnungsart"},
		{name: "unknown service", in: header + "03.12.2026;09:30;Zimmer;reisepass;M;E;;;;;;;;\n", wantErr: "gibt es nicht"},
		{name: "broken json", in: `{"version":1`, wantErr: "kein gültiges Besuchspaket"},
		{name: "empty", in: "  ", wantErr: "leer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packs, err := backoffice.ParseRegisterExport([]byte(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Len(t, packs, tt.wantPacks)
			for _, p := range packs {
				js, err := json.Marshal(p)
				require.NoError(t, err)
				_, err = visit.Parse(js)
				assert.NoError(t, err, "every pack is one the kit reads")
			}
		})
	}
}

func FuzzParseRegisterExport(f *testing.F) {
	f.Add([]byte("datum;uhrzeit;ort;leistungen;familienname;vornamen\n03.12.2026;09:30;Zimmer;personalausweis;M;E\n"))
	f.Add([]byte(`{"version":1,"date":"2026-12-03","appointments":[]}`))
	f.Add([]byte("datum,uhrzeit\n\"unclosed"))
	f.Fuzz(func(t *testing.T, data []byte) {
		packs, err := backoffice.ParseRegisterExport(data)
		if err != nil {
			var ie *backoffice.InputError
			assert.ErrorAs(t, err, &ie, "every refusal is a German message for staff")
			return
		}
		for _, p := range packs {
			js, err := json.Marshal(p)
			require.NoError(t, err)
			_, err = visit.Parse(js)
			assert.NoError(t, err, "whatever is accepted is a pack the kit reads")
		}
	})
}

func TestBackOfficeInboxFiltersAndFleetFlags(t *testing.T) {
	fake, srv, clk := console(t, backoffice.Options{FlagAfter: 10 * 24 * time.Hour})
	day1 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	day2 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	fake.Summary = []townhall.CaseSummary{
		{CaseID: "c1", Number: "TH-2026-000001", Service: "wohnsitzanmeldung", Kit: "kit-1", Caseworker: "anna", ReceivedAt: day1, Late: true},
		{CaseID: "c2", Number: "TH-2026-000002", Service: "personalausweis", Kit: "kit-2", Caseworker: "bernd", ReceivedAt: day2},
		{CaseID: "c3", Number: "TH-2026-000003", Service: "wohnsitzanmeldung", Kit: "kit-1", Caseworker: "bernd", ReceivedAt: day2},
	}
	fake.Kits = []townhall.KitStatus{
		{ID: "kit-1", LastContact: clk.now().Add(-11 * 24 * time.Hour), CertNotAfter: clk.now().Add(400 * 24 * time.Hour)},
		{ID: "kit-2", LastContact: clk.now().Add(-time.Hour), CertNotAfter: clk.now().Add(10 * 24 * time.Hour),
			QueueReportedAt: clk.now().Add(-time.Hour), QueueDepth: 2, Parked: 1, OldestWaiting: clk.now().Add(-8 * 24 * time.Hour)},
	}
	b := newClient(t, srv)
	b.login("erika", "richtig langes passwort")
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"TH-2026-000003", "TH-2026-000002", "TH-2026-000001"}},
		{"?koffer=kit-1", []string{"TH-2026-000003", "TH-2026-000001"}},
		{"?bearbeitung=bernd", []string{"TH-2026-000003", "TH-2026-000002"}},
		{"?leistung=personalausweis", []string{"TH-2026-000002"}},
		{"?nachmeldung=1", []string{"TH-2026-000001"}},
		{"?tag=30.11.2026", []string{"TH-2026-000001"}},
	}
	numbers := regexp.MustCompile(`<td>(TH-\d{4}-\d{6})</td>`)
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			_, body := b.get("/eingang" + tt.query)
			var got []string
			for _, m := range numbers.FindAllStringSubmatch(body, -1) {
				got = append(got, m[1])
			}
			assert.Equal(t, tt.want, got)
		})
	}
	_, body := b.get("/flotte")
	assert.Contains(t, body, "seit 11 Tagen nicht gemeldet", "silent longer than FlagAfter")
	assert.Equal(t, 1, strings.Count(body, "nicht gemeldet</span>"), "kit-2 is not flagged")
	assert.Contains(t, body, "läuft bald ab", "kit-2's certificate expires within 30 days")
	assert.Equal(t, 1, strings.Count(body, "<dt>Warteschlange</dt><dd>unbekannt</dd>"), "kit-1 never reported its queue: unknown")
	assert.Contains(t, body, "<dt>Warteschlange</dt><dd>2 Fälle warten (gemeldet", "kit-2 reported its queue")
	assert.Contains(t, body, "wartet seit 8 Tagen", "kit-2's oldest case waits longer than a week")
	assert.Contains(t, body, "<dt>Geparkte Fälle</dt><dd>1 <span", "kit-2's parked case is flagged")
}
