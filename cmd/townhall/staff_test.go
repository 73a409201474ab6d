package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/townhall"
)

func TestStaffAddAndKitRevokeCommands(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    exitCode
		wantErr string
	}{
		{name: "unknown role prints usage", args: []string{"staff", "add", "erika", "--role", "Chef"}, want: exitUsage, wantErr: "Usage:"},
		{name: "short passphrase", args: []string{"staff", "add", "erika", "--role", "Sachbearbeitung"}, stdin: "kurz\n", want: exitError, wantErr: "at least 12"},
		{name: "revoke an unknown kit", args: []string{"kit", "revoke", "nope"}, want: exitError, wantErr: "not found"},
		{name: "allow-sealed for a kit not revoked", args: []string{"kit", "allow-sealed", "nope"}, want: exitError, wantErr: "not revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, errOut := testFactory(t)
			f.In = strings.NewReader(tt.stdin)
			assert.Equal(t, tt.want, run(t.Context(), tt.args, f), errOut.String())
			assert.Contains(t, errOut.String(), tt.wantErr)
		})
	}

	onBackends(t, testStaffAdd)
}

func testStaffAdd(t *testing.T, f *factory) {
	var out, errOut bytes.Buffer
	f.Out, f.ErrOut = &out, &errOut
	f.In = strings.NewReader("korrekt pferd batterie\n")
	require.Equal(t, exitOK, run(t.Context(), []string{"staff", "add", "erika", "--role", "administration"}, f), errOut.String())
	assert.Contains(t, out.String(), "account erika created (Administration)")
	f.In = strings.NewReader("korrekt pferd batterie\n")
	assert.Equal(t, exitError, run(t.Context(), []string{"staff", "add", "erika", "--role", "Sachbearbeitung"}, f), "a name is taken once")
	assert.NotContains(t, errOut.String(), "korrekt pferd", "the passphrase is never echoed")

	th, err := f.open(t.Context())
	require.NoError(t, err)
	defer th.Close()
	s, err := th.StaffAccount(t.Context(), "erika")
	require.NoError(t, err)
	assert.Equal(t, townhall.RoleAdmin, s.Role)
	assert.True(t, strings.HasPrefix(s.Hash, "$argon2id$v=19$m=65536,t=3,p=4$"), "RFC 9106's second recommended option: %s", s.Hash)
	ok, err := argon2id.ComparePasswordAndHash("korrekt pferd batterie", s.Hash)
	require.NoError(t, err)
	assert.True(t, ok)
}
