package client

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/localapi"
)

// syncingBackend is a backend that can sync now.
type syncingBackend struct {
	fakeBackend
	kicks int
}

var _ localapi.Syncer = (*syncingBackend)(nil)

func (b *syncingBackend) SyncNow(context.Context) error { b.kicks++; return nil }

func TestSync(t *testing.T) {
	b := &syncingBackend{}
	require.NoError(t, New(serve(t, b)).Sync(t.Context()))
	assert.Equal(t, 1, b.kicks)

	// A backend without sync (a training kit's fake) answers no-sync.
	err := New(serve(t, &fakeBackend{})).Sync(t.Context())
	var e *localapi.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "no-sync", e.Code)
}
