package logfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRotatesAndKeepsRecent(t *testing.T) {
	dir := t.TempDir()
	_, err := Recent(dir, 10)
	require.ErrorIs(t, err, fs.ErrNotExist)

	l, err := Open(dir)
	require.NoError(t, err)
	line := strings.Repeat("x", 100)
	n := 3 * MaxSize / 101
	for i := range n {
		_, err := fmt.Fprintf(l, "%06d %s\n", i, line)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	cur, err := os.Stat(filepath.Join(dir, Name))
	require.NoError(t, err)
	assert.LessOrEqual(t, cur.Size(), int64(MaxSize))
	old, err := os.Stat(filepath.Join(dir, Name+".1"))
	require.NoError(t, err)
	assert.LessOrEqual(t, old.Size(), int64(MaxSize))
	assert.Equal(t, os.FileMode(0o600), cur.Mode().Perm())

	got, err := Recent(dir, 5)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	require.Len(t, lines, 5)
	assert.True(t, strings.HasPrefix(lines[4], fmt.Sprintf("%06d ", n-1)), "the newest line last")
}
