package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/localapi"
)

// submitRequest builds a raw submit request from a case file, without the CLI's own check.
func submitRequest(t *testing.T, raw []byte, dir string) localapi.SubmitRequest {
	t.Helper()
	f, err := cases.Parse(raw)
	require.NoError(t, err)
	root, err := os.OpenRoot(filepath.Clean(dir))
	require.NoError(t, err)
	defer root.Close()
	files, _ := cases.ReadAttachments(t.Context(), root, f)
	return localapi.SubmitRequest{Case: raw, Files: files}
}
