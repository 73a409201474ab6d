package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/sync/enroll"
)

func writeBundle(t *testing.T) string {
	t.Helper()
	ca, err := enroll.NewCA("Stadt Musterstadt test CA", time.Now())
	require.NoError(t, err)
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	bundle, err := ca.Issue("kit-007", "https://townhall.example", id.Recipient().String(), time.Now())
	require.NoError(t, err)
	data, err := bundle.Marshal()
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "bundle.json")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func TestInit(t *testing.T) {
	tests := []struct {
		name     string
		args     func(t *testing.T) []string
		want     exitCode
		wantOut  string
		wantErr  string
		training bool
	}{
		{name: "training", args: func(*testing.T) []string { return []string{"init", "--training"} },
			want: exitOK, wantOut: "training kit", training: true},
		{name: "enroll", args: func(t *testing.T) []string { return []string{"init", "--enroll", writeBundle(t)} },
			want: exitOK, wantOut: "kit kit-007 initialised"},
		{name: "neither", args: func(*testing.T) []string { return []string{"init"} },
			want: exitUsage, wantErr: "exactly one of"},
		{name: "missing bundle", args: func(*testing.T) []string { return []string{"init", "--enroll", "/nonexistent.json"} },
			want: exitError, wantErr: "read enrollment bundle"},
		{name: "broken bundle", args: func(t *testing.T) []string {
			p := filepath.Join(t.TempDir(), "b.json")
			require.NoError(t, os.WriteFile(p, []byte(`{"version":1,"kit_id":"x"}`), 0o600))
			return []string{"init", "--enroll", p}
		}, want: exitError, wantErr: "enrollment bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, errOut := testFactory(t)
			got := run(t.Context(), tt.args(t), f)
			assert.Equal(t, tt.want, got, errOut.String())
			assert.Contains(t, out.String(), tt.wantOut)
			assert.Contains(t, errOut.String(), tt.wantErr)
			if tt.want != exitOK {
				return
			}
			k, err := keys.LoadKit(f.DataDir)
			require.NoError(t, err)
			assert.Equal(t, tt.training, k.Training)
			st, err := os.Stat(f.DataDir)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())

			// A second init never overwrites the kit's keys.
			assert.Equal(t, exitError, run(t.Context(), tt.args(t), f))
			k2, err := keys.LoadKit(f.DataDir)
			require.NoError(t, err)
			assert.Equal(t, k.Bundle.KeyPEM, k2.Bundle.KeyPEM)
		})
	}
}
