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
	files, _ := cases.ReadAttachments(os.DirFS(filepath.Clean(dir)), f)
	return localapi.SubmitRequest{Case: raw, Files: files}
}
