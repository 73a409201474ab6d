package escl_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
)

// assertCode checks that err is a scanner *devices.Error with code and a German hint.
func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	var de *devices.Error
	require.True(t, errors.As(err, &de), "want *devices.Error, got %T: %v", err, err)
	assert.Equal(t, devices.Scanner, de.Kind)
	assert.Equal(t, code, de.Code, "error: %v", err)
	assert.NotEmpty(t, de.Hint)
}
