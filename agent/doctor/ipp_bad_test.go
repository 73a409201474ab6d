package doctor

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/ipp"
)

// ippAnswer answers every IPP request with body (Content-Type application/ipp) and code.
func ippAnswer(code int, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", goipp.ContentType)
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}
}

// ippResponse encodes an IPP response with the given status and no attributes but the
// mandatory operation group.
func ippResponse(t *testing.T, status goipp.Status) []byte {
	t.Helper()
	m := goipp.NewResponse(goipp.DefaultVersion, status, 1)
	m.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
	m.Operation.Add(goipp.MakeAttribute("attributes-natural-language", goipp.TagLanguage, goipp.String("en-us")))
	b, err := m.EncodeBytes()
	require.NoError(t, err)
	return b
}

// TestPrinterCheckBadIPPAnswers: a printer that answers garbage, a cut message, an HTTP error,
// an IPP error, an empty description or nothing at all becomes a failed check with a code and
// both hints, never a hung or crashed run.
func TestPrinterCheckBadIPPAnswers(t *testing.T) {
	full := ippResponse(t, goipp.StatusOk)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		hang    bool     // accept the request and never answer
		codes   []string // any of these (the runner's or the device's code for the same fault)
	}{
		{name: "garbage", handler: ippAnswer(http.StatusOK, []byte("\x00\x01garbage, not IPP at all")), codes: []string{"printer.bad-response"}},
		{name: "cut after the header", handler: ippAnswer(http.StatusOK, full[:9]), codes: []string{"printer.bad-response"}},
		{name: "html login page", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte(strings.Repeat("<html>login</html>", 10)))
		}, codes: []string{"printer.bad-response"}},
		{name: "http error", handler: ippAnswer(http.StatusInternalServerError, nil), codes: []string{"printer.http-status"}},
		{name: "ipp error", handler: ippAnswer(http.StatusOK, ippResponse(t, goipp.StatusErrorInternal)),
			codes: []string{"printer.rejected"}},
		{name: "ok without printer attributes", handler: ippAnswer(http.StatusOK, full), codes: []string{"printer.bad-response"}},
		{name: "never answers", hang: true, codes: []string{"check.timeout", "printer.timeout", "printer.unreachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler := tt.handler
			// The IPP client finishes an exchange it has started (up to its RequestTimeout)
			// even after the check's deadline; release lets the handler end before the
			// server closes.
			release := make(chan struct{})
			if tt.hang {
				handler = func(_ http.ResponseWriter, r *http.Request) {
					select {
					case <-r.Context().Done():
					case <-release:
					}
				}
			}
			srv := httptest.NewServer(handler)
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) })
			uri := "ipp://" + strings.TrimPrefix(srv.URL, "http://") + "/ipp/print"
			check := &PrinterCheck{P: &IPPPrinter{URI: uri, Options: ipp.Options{RequestTimeout: 2 * time.Second}}}
			rep := Run(t.Context(), []Check{check}, Options{Timeout: 500 * time.Millisecond})
			r := resultOf(t, rep, "printer")
			assert.Equal(t, Fail, r.Status, "%+v", r)
			assert.Contains(t, tt.codes, r.Code, "%+v", r)
			assert.NotEmpty(t, r.HintDE)
			assert.NotEmpty(t, r.HintEN)
		})
	}
}
