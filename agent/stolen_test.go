package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/keys"
	"koffer/sync/enroll"
	"koffer/sync/receipt"
	"koffer/sync/townhall"
)

// TestStolenKitFile: a thief holds a copy of the data directory (kit.json with its key in
// clear, as on a machine without TPM or systemd-creds) and no passphrase. The visit packs the
// kit received are gone from the town hall; a pack still waiting there does not open with
// anything in the directory; no name or birth date of a citizen (visit packs, a draft) is in
// any file; the thief cannot redirect
// later packs to a key of theirs; a certificate with the kit's name but not its enrolled key
// (one issued before a re-enrolment) is refused; and once the town hall revokes the kit, its
// stolen current certificate is refused on every request with code revoked.
func TestStolenKitFile(t *testing.T) {
	th, err := townhall.Open(t.Context(), t.TempDir(), townhall.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer th.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "https://" + ln.Addr().String()
	cfg, err := th.ServerTLS()
	require.NoError(t, err)
	thCtx, stopTH := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- th.Serve(thCtx, ln, cfg) }()
	defer func() { stopTH(); <-served }()
	bundle, err := th.AddKit(t.Context(), "kit-s", url)
	require.NoError(t, err)

	// The kit: enrolled, one caseworker, running with its uplink.
	dir := t.TempDir()
	require.NoError(t, keys.SaveKit(dir, &keys.Kit{Bundle: bundle}))
	a, err := New(t.Context(), Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	dk, err := keys.NewDataKey()
	require.NoError(t, err)
	w, err := keys.Wrap(dk, []byte("richtige Passphrase"), keys.Params{Time: 1, MemKiB: 1024, Threads: 1})
	require.NoError(t, err)
	_, err = a.Store().AddCaseworker(t.Context(), "mmeier", w)
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	require.NoError(t, a.Login(t.Context(), "mmeier", []byte("richtige Passphrase")))
	// A draft in progress holds a citizen's data too.
	var cf cases.File
	require.NoError(t, json.Unmarshal(request(t, "wohnsitzanmeldung").Case, &cf))
	require.NotEmpty(t, cf.Person.FamilyName)
	_, err = a.core.StartDraft(t.Context(), cases.Wohnsitzanmeldung, "1", &cases.File{Person: cf.Person})
	require.NoError(t, err)

	// The first sync after the login registers the visit key; then a pack can be sealed.
	raw, err := os.ReadFile("../testdata/visits/2026-11-24.json")
	require.NoError(t, err)
	pack := func(day time.Time) []byte {
		return bytes.Replace(raw, []byte(`"date": "2026-11-24"`), []byte(`"date": "`+day.Format(time.DateOnly)+`"`), 1)
	}
	var packID string
	require.Eventually(t, func() bool {
		_ = a.SyncNow(t.Context())
		packID, err = th.AddVisits(t.Context(), "kit-s", pack(time.Now()))
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the kit registers its visit key")
	require.Eventually(t, func() bool {
		_ = a.SyncNow(t.Context())
		ids, err := th.VisitPacks(t.Context(), "kit-s")
		return err == nil && len(ids) == 0
	}, 10*time.Second, 20*time.Millisecond, "the kit stores the pack and acknowledges it")
	visits, err := a.Visits(t.Context(), time.Now().Format(time.DateOnly))
	require.NoError(t, err)
	require.NotEmpty(t, visits)
	assert.Equal(t, packID+"/termin-1", visits[0].ID)
	stop()
	require.NoError(t, <-done)

	// The thief's copy: only the files of the data directory.
	loot := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(p)
		loot[filepath.Base(p)] = b
		return err
	}))
	for name, b := range loot {
		for _, personal := range []string{"Fiktiva", "Hedwig", "1938-04-17", "Abendrot", cf.Person.FamilyName, cf.Person.BirthDate} {
			assert.NotContains(t, string(b), personal, "%s reveals a citizen", name)
		}
	}
	stolen, err := enroll.Parse(loot[keys.BundleFile])
	require.NoError(t, err)
	tlsCfg, err := stolen.ClientTLS()
	require.NoError(t, err)
	thief := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 10 * time.Second}
	getVisits := func() []struct{ Pack []byte } {
		resp, err := thief.Get(url + "/v1/visits")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var got []struct{ Pack []byte }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		return got
	}
	assert.Empty(t, getVisits(), "the stored pack is no longer served")

	// Tomorrow's pack, not yet fetched by the kit, is served to the stolen certificate, but
	// nothing in the directory opens it.
	_, err = th.AddVisits(t.Context(), "kit-s", pack(time.Now().AddDate(0, 0, 1)))
	require.NoError(t, err)
	waiting := getVisits()
	require.Len(t, waiting, 1)
	sk, err := stolen.SigningKey()
	require.NoError(t, err)
	sshID, err := agessh.NewEd25519Identity(sk)
	require.NoError(t, err)
	_, err = age.Decrypt(bytes.NewReader(waiting[0].Pack), sshID)
	assert.Error(t, err, "the kit key does not open visit packs")
	guess, err := keys.NewDataKey()
	require.NoError(t, err)
	guessAEAD, err := guess.AEAD()
	require.NoError(t, err)
	_, err = keys.OpenVisitKey(dir, guessAEAD)
	assert.Error(t, err, "the visit key needs the data key")
	if b, ok := loot[keys.VisitKeyFile]; assert.True(t, ok) {
		assert.NotContains(t, string(b), "AGE-SECRET-KEY", "the visit identity is not in clear")
	}

	// The thief cannot make the town hall seal later packs to a key of theirs.
	mine, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	body, err := json.Marshal(townhall.VisitRecipient{Recipient: mine.Recipient().String()})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPut, url+"/v1/visits/recipient", bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := thief.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusConflict, resp.StatusCode)

	// A certificate with the kit's name but not its enrolled key (as one issued before a
	// re-enrolment) is refused.
	old, err := th.CA().Issue("kit-s", url, th.Recipient(), time.Now())
	require.NoError(t, err)
	oldCfg, err := old.ClientTLS()
	require.NoError(t, err)
	resp, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: oldCfg}, Timeout: 10 * time.Second}).Get(url + "/v1/visits")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	// The loss is reported: the kit is revoked, and the stolen certificate, which carries the
	// enrolled key, is refused from that moment on every path (visits, recipient, tus
	// creation, commit), with code revoked.
	require.NoError(t, th.RevokeKit(t.Context(), "kit-s", "admin", "gestohlen"))
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/visits", ""},
		{http.MethodPut, "/v1/visits/recipient", string(body)},
		{http.MethodPost, "/files/", ""},
		{http.MethodPost, "/v1/packets/" + packID, `{"upload_id":"x"}`},
		{http.MethodGet, "/v1/audit", ""},
	} {
		req, err := http.NewRequest(r.method, url+r.path, bytes.NewReader([]byte(r.body)))
		require.NoError(t, err)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "100")
		resp, err := thief.Do(req)
		require.NoError(t, err)
		var p struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s %s", r.method, r.path)
		assert.Equal(t, receipt.CodeRevoked, p.Code, "%s %s", r.method, r.path)
	}
}
