package agent

import (
	"bytes"
	"context"

	"koffer/agent/documents/scanpdf"
	"koffer/devices/escl"
)

// ESCL scans documents for the caseworker UI from an eSCL scanner (real, or the training
// simulator): the feeder when paper lies in it, else the flatbed, with the document profile
// (300 dpi, grey, A4) into one PDF.
type ESCL struct{ Client *escl.Client }

var _ DocumentScanner = ESCL{}

// ScanDocument implements DocumentScanner. On any error nothing is returned: a partial scan is
// never attached as if complete.
func (s ESCL) ScanDocument(ctx context.Context) ([]byte, error) {
	caps, err := s.Client.Capabilities(ctx)
	if err != nil {
		return nil, err
	}
	src := escl.Platen
	if st, err := s.Client.Status(ctx); err == nil && st.ADFState == escl.ADFLoaded {
		src = escl.Feeder
	}
	settings, err := caps.Settings(escl.Profile{Source: src}, s.Client.Quirks())
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w, err := scanpdf.NewWriter(&b, scanpdf.Options{})
	if err != nil {
		return nil, err
	}
	if _, err := s.Client.Scan(ctx, caps, settings, func(p *escl.Page) error {
		return w.AddJPEG(p.Body, settings.Resolution.X, settings.Resolution.Y)
	}); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
