package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/documents"
	"koffer/devices"
	"koffer/devices/ipp/ipptest"
	"koffer/devices/sim"
)

func TestPrintRealPrinter(t *testing.T) {
	p := ipptest.Start(t, ipptest.Options{})
	pdfFile := filepath.Join(t.TempDir(), "brief.pdf")
	var pdf bytes.Buffer
	require.NoError(t, documents.WritePDF(documents.TestPage{KitID: "k1", Printed: time.Now()}, &pdf))
	require.NoError(t, os.WriteFile(pdfFile, pdf.Bytes(), 0o600))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "test page", args: []string{"print", "test", "--printer", p.URI}, want: "Gedruckt: Testseite"},
		{name: "pdf file", args: []string{"print", pdfFile, "--printer", p.URI}, want: "Gedruckt: Dokument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, errOut := testFactory(t)
			code := run(t.Context(), tt.args, f)
			require.Equal(t, exitOK, code, "stderr: %s\nprinter: %s", errOut, p.Log)
			assert.Contains(t, out.String(), tt.want)
			assert.Contains(t, out.String(), "application/pdf")
		})
	}
	files := p.SpoolFiles(t)
	require.Len(t, files, 2)
	got, err := os.ReadFile(files[1])
	require.NoError(t, err)
	assert.Equal(t, pdf.Bytes(), got, "the PDF file reaches the printer unchanged")
}

func TestPrintFailures(t *testing.T) {
	notPDF := filepath.Join(t.TempDir(), "x.txt")
	require.NoError(t, os.WriteFile(notPDF, []byte("hello"), 0o600))
	tests := []struct {
		name    string
		args    []string
		code    exitCode
		wantErr string
	}{
		{name: "printer unreachable", args: []string{"print", "test", "--printer", "ipp://localhost:1/ipp/print"}, code: exitError, wantErr: "Der Drucker ist nicht erreichbar"},
		{name: "not a pdf", args: []string{"print", notPDF, "--training"}, code: exitUsage, wantErr: "not a PDF"},
		{name: "missing file", args: []string{"print", "/nonexistent.pdf", "--training"}, code: exitError, wantErr: "no such file"},
		{name: "bad uri", args: []string{"print", "test", "--printer", "file:///x"}, code: exitUsage, wantErr: "printer uri"},
		{name: "no argument", args: []string{"print"}, code: exitError, wantErr: "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, errOut := testFactory(t)
			assert.Equal(t, tt.code, run(t.Context(), tt.args, f), errOut.String())
			assert.Contains(t, errOut.String(), tt.wantErr)
		})
	}
}

func TestPrintRunSimulator(t *testing.T) {
	f, out, _ := testFactory(t)
	simPrinter := sim.NewPrinter()
	simPrinter.PageTime = time.Millisecond
	opts := &printOptions{f: f, Printer: "sim", Test: true, Timeout: time.Minute, now: time.Now,
		open: func(string, time.Duration) (printer, func(), error) { return simPrinter, func() {}, nil }}
	require.NoError(t, printRun(t.Context(), opts))
	assert.Contains(t, out.String(), "Gedruckt: Testseite")
	require.Len(t, simPrinter.Jobs(), 1)
	assert.Equal(t, "Testseite", simPrinter.Jobs()[0].Name)
}

func TestPrinterStatuses(t *testing.T) {
	p := ipptest.Start(t, ipptest.Options{Name: "Netzdrucker"})
	got := printerStatuses(t.Context(), []string{p.URI, "ipp://localhost:1/ipp/print"}, false)
	require.Len(t, got, 2)
	require.NoError(t, got[0].Problem)
	assert.Equal(t, "Netzdrucker", got[0].Description.Name)
	assert.Error(t, got[1].Problem)
	assert.Contains(t, devices.Hint(got[1].Problem), "nicht erreichbar")
}

// On a machine without USB (this container) the USB part says so instead of panicking.
func TestPrinterStatusesUSB(t *testing.T) {
	got := printerStatuses(t.Context(), nil, true)
	for _, st := range got {
		if st.Problem != nil {
			assert.NotEmpty(t, devices.Hint(st.Problem))
		}
	}
}
