package localapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holdingBackend's Submit holds each request until release is closed, counting how many are
// held at once.
type holdingBackend struct {
	release       chan struct{}
	inFlight, max atomic.Int32
}

func (b *holdingBackend) Status(context.Context) (Status, error)     { return Status{}, nil }
func (b *holdingBackend) Cases(context.Context) ([]Case, error)      { return nil, nil }
func (b *holdingBackend) Case(context.Context, string) (Case, error) { return Case{}, nil }
func (b *holdingBackend) Submit(_ context.Context, req SubmitRequest) (SubmitResponse, error) {
	n := b.inFlight.Add(1)
	if n > b.max.Load() {
		b.max.Store(n)
	}
	<-b.release
	b.inFlight.Add(-1)
	return SubmitResponse{ID: req.ID, State: "sealed"}, nil
}

// readMark notes whether its body was read at all.
type readMark struct {
	r    io.Reader
	read atomic.Bool
}

func (m *readMark) Read(p []byte) (int, error) { m.read.Store(true); return m.r.Read(p) }

// TestSubmitsOneAtATime: while one submit holds its files, a second waits without its body
// being read, so the agent holds one case's files at a time; both then go through.
func TestSubmitsOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &holdingBackend{release: make(chan struct{})}
		h := NewHandler(b, nil)
		var bodies []*readMark
		var codes [2]int
		done := make(chan struct{}, 2)
		for i := range 2 {
			raw, boundary := encodeSubmit(t, SubmitRequest{Case: []byte(`{}`), Files: [][]byte{bytes.Repeat([]byte{byte(i)}, 1<<20)}})
			body := &readMark{r: bytes.NewReader(raw)}
			bodies = append(bodies, body)
			req := httptest.NewRequest(http.MethodPost, "/v1/cases", body)
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
			go func() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				codes[i] = rec.Code
				done <- struct{}{}
			}()
		}
		synctest.Wait()
		assert.Equal(t, int32(1), b.inFlight.Load(), "one submit at a time")
		assert.NotEqual(t, bodies[0].read.Load(), bodies[1].read.Load(), "the waiting request's body is not read yet")
		close(b.release)
		<-done
		<-done
		assert.Equal(t, int32(1), b.max.Load())
		require.Equal(t, [2]int{http.StatusOK, http.StatusOK}, codes)
		assert.True(t, bodies[0].read.Load() && bodies[1].read.Load())
	})
}
