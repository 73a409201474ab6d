package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/client"
	"koffer/agent/doctor"
	"koffer/agent/keys"
	"koffer/store"
)

// TestRevokedKitLocksItself: a real town hall, a real agent process with a caseworker who can
// log in and a delivered case. `townhall kit revoke` shuts the kit out; the kit's next sync is
// refused, the agent marks itself revoked and forgets its keys, `koffer doctor` says
// uplink.revoked, the UI refuses the caseworker with the German reason, and the case sealed
// afterwards never reaches the inbox but stays on the kit, parked for the town hall's decision.
func TestRevokedKitLocksItself(t *testing.T) {
	thBin := buildTownhall(t)
	thDir := t.TempDir()
	th, bundle := serveTownhall(t, thDir, "kit-lost")

	f, _, errOut := dataFactory(t)
	require.Equal(t, exitOK, run(t.Context(), []string{"init", "--enroll", bundle}, f), errOut.String())
	pass := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(pass, []byte("richtige Passphrase\n"), 0o600))
	require.NoError(t, userAddRun(&userAddOptions{f: f, ctx: t.Context(), Name: "mmeier", PassphraseFile: pass,
		params: keys.Params{Time: 1, MemKiB: 1024, Threads: 1}}))

	uiAddr := freeLoopback(t)
	p := startAgentProc(t, f.DataDir, "--listen", uiAddr)
	defer p.kill()
	login := uiLoginAttempt(t, "http://"+uiAddr)
	status, body, browser := login("mmeier", "richtige Passphrase")
	require.Equal(t, http.StatusOK, status, "the caseworker logs in before the revocation: %s", body)
	require.FileExists(t, filepath.Join(f.DataDir, keys.VisitKeyFile), "the first login made the visit key")

	caseFiles, err := filepath.Glob("../../testdata/cases/valid/*/case.json")
	require.NoError(t, err)
	submit := func() string {
		id := uuid.Must(uuid.NewV7()).String()
		cf := *f
		cf.Out, cf.ErrOut = &bytes.Buffer{}, &bytes.Buffer{}
		require.NoError(t, caseSubmitRun(&caseSubmitOptions{f: &cf, ctx: t.Context(), ID: id, File: caseFiles[0], Now: time.Now}))
		return id
	}
	first := submit()
	var out bytes.Buffer
	cf := *f
	cf.Out = &out
	require.NoError(t, syncRun(&syncOptions{f: &cf, ctx: t.Context(), wait: true, timeout: 30 * time.Second, connect: connectSyncAgent}), p.logs.String())

	// The administrator revokes the kit with the town hall's own command.
	cmd := exec.Command(thBin, "--data", thDir, "kit", "revoke", "kit-lost", "--reason", "gestohlen")
	cmd.Env = append(os.Environ(), "TOWNHALL_DATA="+thDir)
	outRevoke, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", outRevoke)

	// The kit seals another case; the uplink's attempt is refused and the kit locks itself.
	second := submit()
	c := client.New(f.DataDir)
	require.Eventually(t, func() bool {
		st, err := c.Status(t.Context())
		return err == nil && st.Uplink != nil && !st.Uplink.RevokedAt.IsZero()
	}, 20*time.Second, 50*time.Millisecond, "the agent learns of its revocation: %s", p.logs.String())
	st, err := c.Status(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "revoked", st.Uplink.LastError)
	var sout bytes.Buffer
	sf := *f
	sf.Out = &sout
	require.Equal(t, exitOK, run(t.Context(), []string{"status"}, &sf))
	assert.Contains(t, sout.String(), "[uplink.revoked]", "koffer status says so too")

	// A technician's `koffer sync` is refused too and does not start a loop.
	require.NoError(t, c.Sync(t.Context()))
	time.Sleep(500 * time.Millisecond)

	// The caseworker's open session is locked at once (the data key is gone), the lock page
	// says why, and unlocking is refused with the reason.
	base := "http://" + uiAddr
	resp, err := browser.Get(base + "/")
	require.NoError(t, err)
	locked, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "/gesperrt", resp.Request.URL.Path, "the open session is locked")
	assert.Contains(t, string(locked), "uplink.revoked")
	assert.Contains(t, string(locked), "vom Rathaus gesperrt")
	m := csrfField.FindSubmatch(locked)
	require.NotNil(t, m)
	resp, err = browser.PostForm(base+"/gesperrt", url.Values{"csrf": {string(m[1])}, "passphrase": {"richtige Passphrase"}})
	require.NoError(t, err)
	unlock, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, string(unlock), "uplink.revoked", "unlocking is refused with the reason")
	// And the UI refuses every login and says why, in German.
	status, body, _ = login("mmeier", "richtige Passphrase")
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, body, "uplink.revoked")
	assert.Contains(t, body, "vom Rathaus gesperrt")

	// koffer doctor names the revocation.
	var dout bytes.Buffer
	df := *f
	df.Out = &dout
	err = doctorRun(&doctorOptions{f: &df, ctx: t.Context(), JSON: true, Profile: emptyProfile(t), Discover: fakeReader, OpenReader: opensFine, DiskWarn: 1, Timeout: 10 * time.Second})
	require.Error(t, err, "doctor fails on a revoked kit")
	var up doctor.Result
	for _, r := range doctorReport(t, &dout).Results {
		if r.Check == "uplink" {
			up = r
		}
	}
	assert.Equal(t, doctor.Fail, up.Status)
	assert.Equal(t, "uplink.revoked", up.Code)
	assert.Contains(t, up.HintDE, "gesperrt")

	// Nothing sent after the revocation reached the inbox; the second case waits on the kit.
	inbox, err := th.Inbox(t.Context())
	require.NoError(t, err)
	var got []string
	for _, ic := range inbox {
		got = append(got, ic.CaseID)
	}
	assert.Equal(t, []string{first}, got)
	q, err := c.Queue(t.Context())
	require.NoError(t, err)
	states, parked := map[string]string{}, map[string]string{}
	for _, qc := range q {
		states[qc.ID], parked[qc.ID] = qc.State, qc.Parked
	}
	assert.Equal(t, "delivered", states[first])
	assert.Contains(t, []string{"sealed", "uploading"}, states[second], "the packet stays on the kit")
	assert.Equal(t, "revoked", parked[second], "parked for the town hall's decision")

	// The keys are gone: no visit key, and no caseworker's wrapped data key left to unwrap.
	p.kill()
	assert.NoFileExists(t, filepath.Join(f.DataDir, keys.VisitKeyFile))
	s, err := store.Open(t.Context(), f.DataDir, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	cw, err := s.Caseworker(t.Context(), "mmeier")
	require.NoError(t, err)
	assert.True(t, cw.Disabled)
	assert.Empty(t, cw.Wrapped)
	_, err = keys.Unwrap(cw.Wrapped, []byte("richtige Passphrase"))
	assert.Error(t, err)
	it, err := s.Outbox(t.Context(), second)
	require.NoError(t, err)
	assert.FileExists(t, it.PacketPath, "the sealed packet is kept")
	_, err = s.NextOutbox(t.Context(), time.Now().Add(time.Hour))
	assert.ErrorIs(t, err, store.ErrNotFound, "nothing is due: the packet is parked")
	require.NoError(t, s.VerifyAudit(t.Context()))
}

// uiLoginAttempt returns a function that logs in to the agent's UI at base as a new browser
// would (form, CSRF token, cookies) and reports the final status, the page and the browser.
func uiLoginAttempt(t *testing.T, base string) func(name, pass string) (int, string, *http.Client) {
	return func(name, pass string) (int, string, *http.Client) {
		t.Helper()
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		resp, err := hc.Get(base + "/anmelden")
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfField.FindSubmatch(page)
		require.NotNil(t, m, "login form with a CSRF token: %s", page)
		resp, err = hc.PostForm(base+"/anmelden", url.Values{"csrf": {string(m[1])}, "name": {name}, "passphrase": {pass}})
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), hc
	}
}
