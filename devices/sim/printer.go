package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"koffer/devices"
	"koffer/devices/ipp"
)

// Printer is a simulated printer for training mode and demos, with the high-level API of
// *ipp.Client (Describe, Print). It negotiates formats, reports state reasons and keeps what it
// was sent. It is chosen explicitly, never in place of a missing real printer.
type Printer struct {
	// Description is what the simulated printer says about itself. Zero value: an idle A4
	// printer that takes PDF and PWG raster.
	Description ipp.Description
	// PageTime is the simulated printing time per job (default 2s; keep it short in tests).
	PageTime time.Duration

	mu   sync.Mutex
	jobs []PrintedJob
}

// PrintedJob is a document the simulator received.
type PrintedJob struct {
	ID     int
	Name   string
	Format ipp.Format
	Data   []byte
}

// NewPrinter returns a simulated printer with the default description.
func NewPrinter() *Printer {
	return &Printer{Description: ipp.Description{
		Name: "Übungsdrucker", MakeAndModel: "koffer Simulator", State: ipp.StateIdle, AcceptingJobs: true,
		Formats: []string{ipp.PDF, ipp.PWGRaster}, MediaReady: []string{"iso_a4_210x297mm"},
		RasterResolution: []int{300}, RasterTypes: []string{"sgray_8"},
		Markers: []ipp.Marker{{Name: "Schwarz", Type: "toner", Color: "#000000", Level: 80, Low: 10, High: 100}},
	}}
}

// SetReasons sets printer-state-reasons, e.g. "media-empty-error", to train error handling.
func (p *Printer) SetReasons(reasons ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Description.StateReasons = append([]string(nil), reasons...)
}

// Describe returns the simulated description.
func (p *Printer) Describe(ctx context.Context) (*ipp.Description, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.Description
	d.StateReasons = append([]string(nil), d.StateReasons...)
	return &d, nil
}

// Print takes doc like a real printer would: it refuses while a problem is reported, picks the
// format, reads the document and "prints" for PageTime.
func (p *Printer) Print(ctx context.Context, doc ipp.Document, onUpdate func(ipp.JobStatus)) (ipp.Result, error) {
	d, err := p.Describe(ctx)
	if err != nil {
		return ipp.Result{}, err
	}
	if err := d.Problem(); err != nil {
		return ipp.Result{}, err
	}
	f, err := ipp.Negotiate(d, doc)
	if err != nil {
		return ipp.Result{}, err
	}
	var rc io.ReadCloser
	if f.MIME == ipp.PDF {
		rc, err = doc.PDF()
	} else {
		rc, err = doc.Raster(f.Raster)
	}
	if err != nil {
		return ipp.Result{Format: f}, fmt.Errorf("open document: %w", err)
	}
	start := time.Now()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, rc)
	rc.Close()
	if err != nil {
		return ipp.Result{Format: f}, fmt.Errorf("read document: %w", err)
	}
	p.mu.Lock()
	id := len(p.jobs) + 1
	p.jobs = append(p.jobs, PrintedJob{ID: id, Name: doc.Name, Format: f, Data: buf.Bytes()})
	p.mu.Unlock()
	res := ipp.Result{JobID: id, Format: f, Attempts: 1, Sent: time.Since(start)}

	pageTime := p.PageTime
	if pageTime <= 0 {
		pageTime = 2 * time.Second
	}
	if onUpdate != nil {
		onUpdate(ipp.JobStatus{ID: id, State: ipp.JobProcessing})
	}
	t := time.NewTimer(pageTime)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return res, &devices.Error{Kind: devices.Printer, Code: "printer.job-timeout",
			Hint: "Der Drucker wird mit dem Auftrag nicht fertig. Bitte die Anzeige am Drucker prüfen.", Err: ctx.Err()}
	case <-t.C:
	}
	res.Printing, res.Pages = pageTime, 1
	if onUpdate != nil {
		onUpdate(ipp.JobStatus{ID: id, State: ipp.JobCompleted, Pages: 1})
	}
	return res, nil
}

// Jobs returns what the simulator has printed so far.
func (p *Printer) Jobs() []PrintedJob {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PrintedJob(nil), p.jobs...)
}

// Output returns what job id received, for a trainee to look at: the format's MIME type and
// the bytes.
func (p *Printer) Output(id int) (mime string, data []byte, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id < 1 || id > len(p.jobs) {
		return "", nil, false
	}
	j := p.jobs[id-1]
	return j.Format.MIME, j.Data, true
}
