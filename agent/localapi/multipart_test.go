package localapi

import (
	"bytes"
	"mime/multipart"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
)

func encodeSubmit(t testing.TB, req SubmitRequest) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, WriteSubmit(mw, req))
	return buf.Bytes(), mw.Boundary()
}

func TestSubmitMultipartRoundTrip(t *testing.T) {
	in := SubmitRequest{ID: "01900000-0000-7000-8000-000000000001", Case: []byte(`{"service":"x"}`),
		Files: [][]byte{[]byte("%PDF-1.4 one"), {}, bytes.Repeat([]byte{7}, 1<<20)}}
	body, boundary := encodeSubmit(t, in)
	out, err := ReadSubmit(multipart.NewReader(bytes.NewReader(body), boundary))
	require.NoError(t, err)
	assert.Equal(t, in.ID, out.ID)
	assert.Equal(t, string(in.Case), string(out.Case))
	require.Len(t, out.Files, 3)
	for i := range in.Files {
		assert.True(t, bytes.Equal(in.Files[i], out.Files[i]), "file %d", i)
	}

	big := SubmitRequest{Case: []byte(`{}`), Files: [][]byte{make([]byte, cases.MaxAttachmentSize+1)}}
	body, boundary = encodeSubmit(t, big)
	_, err = ReadSubmit(multipart.NewReader(bytes.NewReader(body), boundary))
	assert.ErrorContains(t, err, "file 0: larger than")
}

func FuzzReadSubmit(f *testing.F) {
	body, boundary := encodeSubmit(f, SubmitRequest{ID: "x", Case: []byte(`{}`), Files: [][]byte{[]byte("abc")}})
	f.Add(body)
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Length: 99999999999\r\n\r\nx\r\n--" + boundary + "--\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ReadSubmit(multipart.NewReader(bytes.NewReader(data), boundary))
		if err != nil {
			return
		}
		assert.NotNil(t, req.Case)
		assert.LessOrEqual(t, len(req.Files), maxFiles)
		for _, f := range req.Files {
			assert.LessOrEqual(t, len(f), cases.MaxAttachmentSize)
		}
	})
}
