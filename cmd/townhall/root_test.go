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
		if k == "TOWNHALL_DATA" {
			return dir
		}
		return ""
	}
	f.DataDir = dir
	return f, &out, &errOut
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    exitCode
		wantErr string
	}{
		{name: "inbox of a fresh town hall", args: []string{"inbox", "ls"}, want: exitOK},
		{name: "kit add without url prints usage", args: []string{"kit", "add", "k1", "--out", "x"}, want: exitUsage, wantErr: "Usage:"},
		{name: "unknown command", args: []string{"nope"}, want: exitError, wantErr: "unknown command"},
		{name: "open an unknown case", args: []string{"inbox", "open", "0193a0b4-0000-7000-8000-000000000001", "--out", "x"}, want: exitError, wantErr: "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, errOut := testFactory(t)
			got := run(t.Context(), tt.args, f)
			assert.Equal(t, tt.want, got, errOut.String())
			assert.Contains(t, errOut.String(), tt.wantErr)
		})
	}
}
