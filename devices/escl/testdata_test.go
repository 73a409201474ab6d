package escl_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/escl"
)

// projectFile reads a file of the project's own testdata/escl.
func projectFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "escl", name))
	require.NoError(t, err)
	return b
}

var projectFiles = []string{
	"status-adf-jam-default-ns.xml",
	"status-adf-hatch-open-other-prefix.xml",
	"capabilities-flatbed-only-no-ns.xml",
}

func TestProjectStatusFiles(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		state escl.State
		adf   escl.ADFState
		jobs  int
	}{
		{name: "jam, default namespace", file: "status-adf-jam-default-ns.xml", state: escl.StateStopped, adf: escl.ADFJam, jobs: 1},
		{name: "hatch open, other prefixes", file: "status-adf-hatch-open-other-prefix.xml", state: escl.StateIdle, adf: escl.ADFHatchOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := escl.ParseStatus(bytes.NewReader(projectFile(t, tt.file)))
			require.NoError(t, err)
			assert.Equal(t, tt.state, st.State)
			assert.Equal(t, tt.adf, st.ADF)
			assert.Len(t, st.Jobs, tt.jobs)
		})
	}
}

func TestProjectFlatbedOnlyCapabilities(t *testing.T) {
	caps, err := escl.ParseCapabilities(bytes.NewReader(projectFile(t, "capabilities-flatbed-only-no-ns.xml")))
	require.NoError(t, err)
	assert.Equal(t, "Example Flatbed 100", caps.MakeAndModel)
	require.NotNil(t, caps.Platen)
	assert.Nil(t, caps.ADFSimplex)
	assert.Equal(t, []escl.ColorMode{escl.RGB24}, caps.Platen.ColorModes)
	// Grey is not offered: the nearest is colour. 300 dpi is not offered: 150 is nearer than 600.
	assert.Equal(t, escl.RGB24, caps.Platen.NearestMode(escl.Grayscale8))
	assert.Equal(t, 150, caps.Platen.NearestResolution(300))
}
