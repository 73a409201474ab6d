package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/localapi"
	"koffer/store/storetest"
)

// TestStatusDamagedDatabaseExits2: on a kit whose start-up quick check found the database
// damaged, koffer status says so in German and English and exits 2 like doctor; --json keeps
// its fields and exits 2 as well. A healthy kit exits 0.
func TestStatusDamagedDatabaseExits2(t *testing.T) {
	f, _, _ := dataFactory(t)
	stop := startAgent(t, f)
	var out bytes.Buffer
	hf := *f
	hf.Out = &out
	require.Equal(t, exitOK, run(t.Context(), []string{"status"}, &hf), "a healthy kit: %s", out.String())
	assert.NotContains(t, out.String(), "DATENBANK")
	stop()

	storetest.Damage(t, f.DataDir, nil)
	startAgent(t, f)

	out.Reset()
	require.Equal(t, exitCode(2), run(t.Context(), []string{"status"}, &hf))
	assert.Contains(t, out.String(), "DATENBANK:  Die Datenbank des Koffers ist beschädigt.")
	assert.Contains(t, out.String(), "Bitte die Technik anrufen")
	assert.Contains(t, out.String(), "DATABASE:   DAMAGED")
	assert.Contains(t, out.String(), "kit:", "the rest of the status is still printed")

	out.Reset()
	require.Equal(t, exitCode(2), run(t.Context(), []string{"status", "--json"}, &hf))
	var st localapi.Status
	require.NoError(t, json.Unmarshal(out.Bytes(), &st), out.String())
	assert.Contains(t, st.DatabaseDamaged, "quick check")
	assert.Equal(t, "training", st.Mode, "the other fields stay")
	assert.NotEmpty(t, st.KitID)
}
