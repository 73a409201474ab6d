package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/localapi"
	"koffer/store"
)

// fakeBackend answers with what its function fields return.
type fakeBackend struct {
	status func() (localapi.Status, error)
	submit func(localapi.SubmitRequest) (localapi.SubmitResponse, error)
	cases  func() ([]localapi.Case, error)
	one    func(id string) (localapi.Case, error)
}

var _ localapi.Backend = (*fakeBackend)(nil)

func (f *fakeBackend) Status(context.Context) (localapi.Status, error) { return f.status() }
func (f *fakeBackend) Submit(_ context.Context, r localapi.SubmitRequest) (localapi.SubmitResponse, error) {
	return f.submit(r)
}
func (f *fakeBackend) Cases(context.Context) ([]localapi.Case, error)           { return f.cases() }
func (f *fakeBackend) Case(_ context.Context, id string) (localapi.Case, error) { return f.one(id) }

func serve(t *testing.T, b localapi.Backend) string {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(dir, SocketName))
	require.NoError(t, err)
	srv := &http.Server{Handler: localapi.NewHandler(b, nil)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return dir
}

func TestClient(t *testing.T) {
	var got localapi.SubmitRequest
	b := &fakeBackend{
		status: func() (localapi.Status, error) { return localapi.Status{KitID: "kit-1", Mode: "training"}, nil },
		submit: func(r localapi.SubmitRequest) (localapi.SubmitResponse, error) {
			got = r
			if r.ID == "bad" {
				return localapi.SubmitResponse{}, &cases.ValidationError{Problems: []cases.Problem{{Field: "person.birth_date", Code: "date"}}}
			}
			return localapi.SubmitResponse{ID: r.ID, State: "sealed"}, nil
		},
		cases: func() ([]localapi.Case, error) { return nil, nil },
		one: func(id string) (localapi.Case, error) {
			return localapi.Case{}, errors.Join(errors.New("case "+id), store.ErrNotFound)
		},
	}
	c := New(serve(t, b))
	ctx := t.Context()

	st, err := c.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "kit-1", st.KitID)

	res, err := c.Submit(ctx, localapi.SubmitRequest{ID: "a", Case: []byte(`{"x":1}`), Files: [][]byte{{0, 1, 2}}})
	require.NoError(t, err)
	assert.Equal(t, "sealed", res.State)
	assert.Equal(t, [][]byte{{0, 1, 2}}, got.Files, "binary attachments survive the trip")
	assert.JSONEq(t, `{"x":1}`, string(got.Case))

	_, err = c.Submit(ctx, localapi.SubmitRequest{ID: "bad", Case: []byte(`{}`)})
	var ae *localapi.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "invalid-case", ae.Code)
	require.Len(t, ae.Problems, 1)
	assert.Equal(t, "person.birth_date", ae.Problems[0].Field)

	cs, err := c.Queue(ctx)
	require.NoError(t, err)
	assert.NotNil(t, cs, "an empty queue is [] not null")
	assert.Empty(t, cs)

	_, err = c.Case(ctx, "nope")
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "not-found", ae.Code)
}

func TestClientNotRunning(t *testing.T) {
	_, err := New(t.TempDir()).Status(t.Context())
	assert.ErrorIs(t, err, ErrNotRunning)
}
