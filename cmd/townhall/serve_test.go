package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
	"koffer/sync/packet"
	"koffer/sync/townhall"
	"koffer/sync/tus"
)

// serveAndDeliver starts `townhall serve`, enrolls a kit with `townhall kit add`, and delivers
// one sealed case over tus and commit. It returns the factory, the case id and its parts.
func serveAndDeliver(t *testing.T) (*factory, string, []packet.Part) {
	t.Helper()
	f, _, _ := testFactory(t)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveRun(&serveOptions{f: f, ctx: t.Context(), listen: "127.0.0.1:0", hostnames: []string{"th.example"}, ready: func(a string) { ready <- a }})
	}()
	t.Cleanup(func() { assert.NoError(t, <-done) })
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	url := "https://" + addr
	file := filepath.Join(t.TempDir(), "kit.json")
	require.NoError(t, kitAddRun(&kitAddOptions{f: f, ctx: t.Context(), name: "kit-1", url: url, out: file}))
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	b, err := enroll.Parse(data)
	require.NoError(t, err)

	caseID := uuid.Must(uuid.NewV7()).String()
	parts := []packet.Part{
		{Name: "form.json", Kind: packet.KindForm, Data: []byte(`{"service":"wohnsitzanmeldung"}`)},
		{Name: "landlord.pdf", Kind: packet.KindScan, Data: bytes.Repeat([]byte("%PDF-1.7 "), 5000)},
	}
	key, err := b.SigningKey()
	require.NoError(t, err)
	rcp, err := b.AgeRecipient()
	require.NoError(t, err)
	var pkt bytes.Buffer
	_, err = (&packet.Sealer{KitID: b.KitID, Key: key, Recipient: rcp}).Seal(&pkt, packet.Manifest{CaseID: caseID, Service: "wohnsitzanmeldung", CreatedAt: time.Now()}, parts)
	require.NoError(t, err)

	cfg, err := b.ClientTLS()
	require.NoError(t, err)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	c := &tus.Client{HTTP: hc}
	u, err := c.Create(t.Context(), url+townhall.FilesPath, int64(pkt.Len()), nil)
	require.NoError(t, err)
	_, err = c.Patch(t.Context(), u, bytes.NewReader(pkt.Bytes()), 0, int64(pkt.Len()), nil)
	require.NoError(t, err)
	body := fmt.Sprintf(`{"upload_id":%q}`, u[strings.LastIndex(u, "/")+1:])
	resp, err := hc.Post(url+"/v1/packets/"+caseID, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var env map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	assert.Contains(t, env, "sig")
	return f, caseID, parts
}

func TestServeCertificateNamesAndClientAuth(t *testing.T) {
	f, _, _ := testFactory(t)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveRun(&serveOptions{f: f, ctx: t.Context(), listen: "127.0.0.1:0", hostnames: []string{"th.example"}, ready: func(a string) { ready <- a }})
	}()
	t.Cleanup(func() { <-done })
	addr := <-ready
	// Without a client certificate the handshake fails.
	th, err := townhall.Open(t.Context(), f.DataDir, townhall.Options{})
	require.NoError(t, err)
	defer th.Close()
	b, err := th.AddKit(t.Context(), "k", "https://"+addr)
	require.NoError(t, err)
	cfg, err := b.ClientTLS()
	require.NoError(t, err)
	cfg.Certificates = nil
	_, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}).Get("https://" + addr + "/v1/visits")
	assert.Error(t, err)
	// The server certificate covers --hostname.
	cfg, err = b.ClientTLS()
	require.NoError(t, err)
	cfg.ServerName = "th.example"
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}).Get("https://" + addr + "/v1/visits")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
