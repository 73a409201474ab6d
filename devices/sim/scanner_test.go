package sim_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/escl"
	"koffer/devices/sim"
)

func TestSimScannerDrivenByTheRealClient(t *testing.T) {
	tests := []struct {
		name     string
		adf      int
		settings escl.Settings
		pages    int
	}{
		{name: "flatbed grey", settings: escl.Settings{Source: escl.Flatbed, Resolution: 75}, pages: 1},
		{name: "feeder colour", adf: 3, settings: escl.Settings{Source: escl.ADF, Resolution: 75, ColorMode: escl.RGB24}, pages: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := escl.New(sim.ScannerURL, escl.Options{Transport: sim.NewScanner(sim.ScannerOptions{ADFPages: tt.adf})})
			require.NoError(t, err)
			out := filepath.Join(t.TempDir(), "sim.pdf")
			n, err := c.ScanToPDF(t.Context(), tt.settings, out)
			require.NoError(t, err)
			assert.Equal(t, tt.pages, n)
			raw, err := os.ReadFile(out)
			require.NoError(t, err)
			assert.Equal(t, tt.pages, bytes.Count(raw, []byte("/Type /Page ")))
		})
	}
}

func TestSimScannerFeederEmpty(t *testing.T) {
	c, err := escl.New(sim.ScannerURL, escl.Options{Transport: sim.NewScanner(sim.ScannerOptions{})})
	require.NoError(t, err)
	_, err = c.ScanToPDF(t.Context(), escl.DocumentSettings(escl.ADF), filepath.Join(t.TempDir(), "x.pdf"))
	assert.Contains(t, err.Error(), escl.CodeADFEmpty)
}
