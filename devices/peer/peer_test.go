package peer

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNeedFindsShell(t *testing.T) {
	paths := Need(t, "sh")
	assert.Len(t, paths, 1)
	assert.NotEmpty(t, paths[0])
}

func TestRequired(t *testing.T) {
	t.Setenv("KOFFER_REQUIRE_PEERS", "1")
	assert.True(t, Required())
	t.Setenv("KOFFER_REQUIRE_PEERS", "")
	assert.False(t, Required())
}
