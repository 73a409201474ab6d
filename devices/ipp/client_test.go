package ipp_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/OpenPrinting/goipp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices"
	"koffer/devices/ipp"
	"koffer/devices/ipp/ipptest"
	"koffer/devices/peer"
)

func fastOptions() ipp.Options {
	return ipp.Options{PollInterval: 50 * time.Millisecond, BusyDelay: 100 * time.Millisecond,
		BusyMaxDelay: 500 * time.Millisecond, JobTimeout: 30 * time.Second}
}

func randomDoc(t *testing.T, magic string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	copy(b, magic)
	return b
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func codeOf(t *testing.T, err error) string {
	t.Helper()
	var de *devices.Error
	require.True(t, errors.As(err, &de), "want *devices.Error, got %v", err)
	assert.NotEmpty(t, de.Hint)
	return de.Code
}

func TestPrintSpoolsExactBytes(t *testing.T) {
	pdf := randomDoc(t, "%PDF-1.7\n", 300<<10)
	raster := randomDoc(t, "RaS2", 200<<10)
	tests := []struct {
		name    string
		formats []string
		want    []byte
		mime    string
	}{
		{name: "pdf", formats: []string{"application/pdf", "image/pwg-raster"}, want: pdf, mime: ipp.PDF},
		{name: "pwg raster without pdf", formats: []string{"image/pwg-raster", "image/urf"}, want: raster, mime: ipp.PWGRaster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ipptest.Start(t, ipptest.Options{Formats: tt.formats})
			c, err := ipp.New(p.URI, fastOptions())
			require.NoError(t, err)

			var spec ipp.RasterSpec
			doc := ipp.Document{Name: "Testseite", PDF: opener(pdf), Raster: func(s ipp.RasterSpec) (io.ReadCloser, error) {
				spec = s
				return opener(raster)()
			}}
			res, err := c.Print(t.Context(), doc, nil)
			require.NoError(t, err, "log: %s", p.Log)
			assert.Equal(t, tt.mime, res.Format.MIME)
			assert.Equal(t, 1, res.Attempts)
			if tt.mime == ipp.PWGRaster {
				assert.Equal(t, "sgray_8", spec.Type)
				assert.Positive(t, spec.DPI)
			}
			got, err := os.ReadFile(p.JobFile(t, res.JobID))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(tt.want, got), "spooled file differs from what was sent (%d vs %d bytes)", len(got), len(tt.want))
		})
	}
}

func TestPrintRetriesWhileBusy(t *testing.T) {
	p := ipptest.Start(t, ipptest.Options{Delay: 1500 * time.Millisecond})
	c, err := ipp.New(p.URI, fastOptions())
	require.NoError(t, err)
	first := randomDoc(t, "%PDF-1.7\n", 10<<10)
	second := randomDoc(t, "%PDF-1.7\n", 10<<10)

	sent, err := c.PrintJob(t.Context(), ipp.Job{Name: "eins", Format: ipp.PDF}, opener(first))
	require.NoError(t, err)
	require.Equal(t, 1, sent.Attempts)

	res, err := c.Print(t.Context(), ipp.Document{Name: "zwei", PDF: opener(second)}, nil)
	require.NoError(t, err, "log: %s", p.Log)
	assert.Greater(t, res.Attempts, 1, "the second job should have met a busy printer")
	assert.NotEqual(t, sent.ID, res.JobID)

	st, err := c.Wait(t.Context(), sent.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, ipp.JobCompleted, st.State)
	for id, want := range map[int][]byte{sent.ID: first, res.JobID: second} {
		got, err := os.ReadFile(p.JobFile(t, id))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, got), "job %d spooled bytes differ", id)
	}
	files := p.SpoolFiles(t)
	assert.Len(t, files, 2, "each document printed exactly once: %v", files)
}

func TestPrintCancelsStuckJob(t *testing.T) {
	p := ipptest.Start(t, ipptest.Options{Delay: 3 * time.Second})
	opts := fastOptions()
	opts.JobTimeout = 500 * time.Millisecond
	c, err := ipp.New(p.URI, opts)
	require.NoError(t, err)
	res, err := c.Print(t.Context(), ipp.Document{Name: "haengt", PDF: opener(randomDoc(t, "%PDF-", 1024))}, nil)
	assert.Equal(t, "printer.job-timeout", codeOf(t, err))
	require.Positive(t, res.JobID)

	// The stuck job was canceled, so it cannot come out later unasked.
	var st ipp.JobStatus
	require.Eventually(t, func() bool {
		st, err = c.JobAttributes(t.Context(), res.JobID)
		return err == nil && st.State.Done()
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, ipp.JobCanceled, st.State)
}

func TestDescribeRealPrinter(t *testing.T) {
	p := ipptest.Start(t, ipptest.Options{Formats: []string{"application/pdf", "image/pwg-raster"}, Name: "Kofferdrucker"})
	c, err := ipp.New(p.URI, fastOptions())
	require.NoError(t, err)
	d, err := c.Describe(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "Kofferdrucker", d.Name)
	assert.Equal(t, ipp.StateIdle, d.State)
	assert.True(t, d.Supports(ipp.PDF))
	assert.True(t, d.Supports(ipp.PWGRaster))
	assert.False(t, d.Supports("image/jpeg"))
	assert.NoError(t, d.Problem())
	assert.NotEmpty(t, d.RasterResolution)
	assert.Contains(t, d.RasterTypes, "sgray_8")

	assert.NoError(t, c.Validate(t.Context(), ipp.Job{Name: "x", Format: ipp.PDF}))
	err = c.Validate(t.Context(), ipp.Job{Name: "x", Format: "application/vnd.hp-PCL"})
	assert.Equal(t, "printer.format-unsupported", codeOf(t, err))
}

// fakePrinter answers every IPP request with handler.
func fakePrinter(t *testing.T, handler http.HandlerFunc) *ipp.Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	opts := fastOptions()
	opts.RequestTimeout = 300 * time.Millisecond
	opts.BusyAttempts = 3
	c, err := ipp.New(srv.URL+"/ipp/print", opts)
	require.NoError(t, err)
	return c
}

func ippAnswer(status goipp.Status, fill func(m *goipp.Message)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req goipp.Message
		if err := req.Decode(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		m := goipp.NewResponse(req.Version, status, req.RequestID)
		m.Operation.Add(goipp.MakeAttribute("attributes-charset", goipp.TagCharset, goipp.String("utf-8")))
		m.Operation.Add(goipp.MakeAttribute("attributes-natural-language", goipp.TagLanguage, goipp.String("en")))
		if fill != nil {
			fill(m)
		}
		w.Header().Set("Content-Type", goipp.ContentType)
		_ = m.Encode(w)
	}
}

func TestBadPrinters(t *testing.T) {
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		code     string
		attempts int // Print-Job exchanges expected, 0: Describe fails first
	}{
		{name: "malformed ipp", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("\x02\x00garbage")) }, code: "printer.bad-response"},
		{name: "html error page", handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "nope", http.StatusForbidden) }, code: "printer.http-status"},
		{name: "hangs", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		}, code: "printer.timeout"},
		{name: "paper out", handler: ippAnswer(goipp.StatusOk, func(m *goipp.Message) {
			m.Printer.Add(goipp.MakeAttribute("printer-state", goipp.TagEnum, goipp.Integer(5)))
			m.Printer.Add(goipp.MakeAttribute("printer-state-reasons", goipp.TagKeyword, goipp.String("media-empty-error")))
			m.Printer.Add(goipp.MakeAttribute("document-format-supported", goipp.TagMimeType, goipp.String(ipp.PDF)))
		}), code: "printer.media-empty"},
		{name: "no pdf no raster", handler: ippAnswer(goipp.StatusOk, func(m *goipp.Message) {
			m.Printer.Add(goipp.MakeAttribute("printer-state", goipp.TagEnum, goipp.Integer(3)))
			m.Printer.Add(goipp.MakeAttribute("document-format-supported", goipp.TagMimeType, goipp.String("application/vnd.hp-PCL")))
		}), code: "printer.format-unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakePrinter(t, tt.handler)
			_, err := c.Print(t.Context(), ipp.Document{Name: "x", PDF: opener([]byte("%PDF-"))}, nil)
			assert.Equal(t, tt.code, codeOf(t, err))
		})
	}
}

func TestBusyRetryIsBounded(t *testing.T) {
	calls := 0
	c := fakePrinter(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		ippAnswer(goipp.StatusErrorBusy, nil)(w, r)
	})
	sent, err := c.PrintJob(t.Context(), ipp.Job{Name: "x", Format: ipp.PDF}, opener([]byte("%PDF-")))
	assert.True(t, ipp.IsBusy(err))
	assert.Equal(t, "printer.busy", codeOf(t, err))
	assert.Equal(t, 3, sent.Attempts)
	assert.Equal(t, 3, calls)
}

func TestNewRejectsBadURIs(t *testing.T) {
	tests := []struct {
		name string
		uri  string
		ok   bool
		want string
	}{
		{name: "ipp default port", uri: "ipp://printer.local/ipp/print", ok: true, want: "ipp://printer.local/ipp/print"},
		{name: "http endpoint", uri: "http://localhost:8631/ipp/print", ok: true, want: "ipp://localhost:8631/ipp/print"},
		{name: "no path", uri: "ipp://localhost:631", ok: true, want: "ipp://localhost:631/ipp/print"},
		{name: "file", uri: "file:///tmp/x", ok: false},
		{name: "no host", uri: "ipp:///ipp/print", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ipp.New(tt.uri, ipp.Options{})
			if !tt.ok {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.URI())
		})
	}
}

func TestProbe(t *testing.T) {
	p := ipptest.Start(t, ipptest.Options{Name: "Sonde"})
	st := ipp.Probe(t.Context(), p.URI, fastOptions())
	require.NoError(t, st.Problem)
	require.NotNil(t, st.Description)
	assert.Equal(t, "Sonde", st.Description.Name)

	down := ipp.Probe(t.Context(), "ipp://localhost:1/ipp/print", fastOptions())
	assert.Nil(t, down.Description)
	assert.Equal(t, "printer.unreachable", codeOf(t, down.Problem))
}

// answerTransport answers every request with the same body, without a network.
type answerTransport []byte

func (a answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {goipp.ContentType}},
		Body: io.NopCloser(bytes.NewReader(a)), Request: r}, nil
}

// FuzzClientResponses sends arbitrary printer answers to every operation of the client:
// nothing may panic, and every failure must be a *devices.Error for the caseworker.
func FuzzClientResponses(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(peer.FixturesDir("ipp"), "*.ipp"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	ok := goipp.NewResponse(goipp.MakeVersion(2, 0), goipp.StatusOk, 1)
	ok.Job.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(7)))
	ok.Job.Add(goipp.MakeAttribute("job-state", goipp.TagEnum, goipp.Integer(9)))
	seed, _ := ok.EncodeBytes()
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := fastOptions()
		opts.Transport = answerTransport(data)
		opts.BusyAttempts, opts.JobTimeout, opts.PollInterval = 1, 20*time.Millisecond, time.Millisecond
		c, err := ipp.New("ipp://printer/ipp/print", opts)
		require.NoError(t, err)
		check := func(err error) {
			if err != nil {
				var de *devices.Error
				assert.True(t, errors.As(err, &de), "not a *devices.Error: %v", err)
			}
		}
		_, err = c.Describe(t.Context())
		check(err)
		check(c.Validate(t.Context(), ipp.Job{Format: ipp.PDF}))
		_, err = c.JobAttributes(t.Context(), 1)
		check(err)
		_, err = c.Print(t.Context(), ipp.Document{Name: "f", PDF: opener([]byte("%PDF-"))}, nil)
		check(err)
	})
}

// Paper runs out mid-job: while the job is stopped the caller sees the printer's reason, and
// once paper is in, the job completes (and is not sent again).
func TestWaitReportsPaperOutMidJob(t *testing.T) {
	var describes, polls, prints int
	c := fakePrinter(t, func(w http.ResponseWriter, r *http.Request) {
		var req goipp.Message
		body, _ := io.ReadAll(r.Body)
		require.NoError(t, req.DecodeBytes(body))
		switch goipp.Op(req.Code) {
		case goipp.OpGetPrinterAttributes:
			describes++
			ippAnswer(goipp.StatusOk, func(m *goipp.Message) {
				m.Printer.Add(goipp.MakeAttribute("document-format-supported", goipp.TagMimeType, goipp.String(ipp.PDF)))
				m.Printer.Add(goipp.MakeAttribute("printer-state", goipp.TagEnum, goipp.Integer(3)))
				reason := "none"
				if describes > 1 {
					reason = "media-empty-error"
				}
				m.Printer.Add(goipp.MakeAttribute("printer-state-reasons", goipp.TagKeyword, goipp.String(reason)))
			})(w, reqWith(r, body))
		case goipp.OpPrintJob:
			prints++
			ippAnswer(goipp.StatusOk, func(m *goipp.Message) {
				m.Job.Add(goipp.MakeAttribute("job-id", goipp.TagInteger, goipp.Integer(5)))
			})(w, reqWith(r, body))
		case goipp.OpGetJobAttributes:
			polls++
			state := 6
			if polls > 3 {
				state = 9
			}
			ippAnswer(goipp.StatusOk, func(m *goipp.Message) {
				m.Job.Add(goipp.MakeAttribute("job-state", goipp.TagEnum, goipp.Integer(state)))
			})(w, reqWith(r, body))
		default:
			ippAnswer(goipp.StatusOk, nil)(w, reqWith(r, body))
		}
	})
	var problems []string
	res, err := c.Print(t.Context(), ipp.Document{Name: "x", PDF: opener([]byte("%PDF-"))}, func(s ipp.JobStatus) {
		if s.Problem != nil {
			problems = append(problems, codeOf(t, s.Problem))
		}
	})
	require.NoError(t, err)
	assert.Equal(t, 5, res.JobID)
	assert.Equal(t, 1, prints, "sent once")
	assert.Equal(t, []string{"printer.media-empty", "printer.media-empty", "printer.media-empty"}, problems)
}

func reqWith(r *http.Request, body []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	return r2
}
