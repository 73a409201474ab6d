package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionJSON(t *testing.T) {
	tests := []struct {
		name                 string
		version, commit, day string
		want                 buildInfo
	}{
		{name: "linker values win", version: "1.4.0", commit: "abc123", day: "2026-12-02T05:00:00Z",
			want: buildInfo{Version: "1.4.0", Commit: "abc123", Date: "2026-12-02T05:00:00Z"}},
		{name: "test binary without them", want: buildInfo{Version: "devel", Commit: "unknown", Date: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := [3]string{buildVersion, buildCommit, buildDate}
			t.Cleanup(func() { buildVersion, buildCommit, buildDate = old[0], old[1], old[2] })
			buildVersion, buildCommit, buildDate = tt.version, tt.commit, tt.day
			f, out, _ := testFactory(t)
			require.Equal(t, exitOK, run(t.Context(), []string{"version", "--json"}, f))
			var got buildInfo
			require.NoError(t, json.Unmarshal(out.Bytes(), &got))
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want.Version, version())
		})
	}
}
