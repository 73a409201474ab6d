package web

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFingerName(t *testing.T) {
	assert.Equal(t, "rechter Zeigefinger", FingerName("right_index"))
	assert.Equal(t, "linker Daumen", FingerName("left_thumb"))
	assert.Equal(t, "Linke Hand", HandName("left"))
	assert.Equal(t, "Anderer Grund", reasonLabel("other"))
}
