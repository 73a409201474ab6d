package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// testFactory returns a factory with in-memory streams and a private data directory.
func testFactory(t *testing.T) (*factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := newFactory(strings.NewReader(""), &out, &errOut)
	dir := t.TempDir()
	f.Getenv = func(k string) string {
		if k == "KOFFER_DATA" {
			return dir
		}
		return ""
	}
	return f, &out, &errOut
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    exitCode
		wantErr string
	}{
		{name: "version", args: []string{"version"}, want: exitOK},
		{name: "unknown flag prints usage", args: []string{"version", "--nope"}, want: exitUsage, wantErr: "Usage:"},
		{name: "unknown command", args: []string{"nope"}, want: exitError, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, errOut := testFactory(t)
			got := run(t.Context(), tt.args, f)
			assert.Equal(t, tt.want, got)
			assert.Contains(t, errOut.String(), tt.wantErr)
		})
	}
}
