package escl

import (
	"context"
	"net/http"
	"time"
)

// Info is what `koffer devices` shows of a scanner.
type Info struct {
	BaseURL      string
	MakeAndModel string
	Sources      []Source
	State        State
	ADF          ADFState
}

// Probe asks the scanner at baseURL over rt (nil: TCP) for its capabilities and status, within
// 5 s unless ctx ends sooner. A failure is a *devices.Error (scanner.unreachable,
// scanner.bad-answer...). A feeder jam or open cover is reported in Info, not as an error.
func Probe(ctx context.Context, rt http.RoundTripper, baseURL string) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info := Info{BaseURL: baseURL}
	c, err := New(baseURL, Options{Transport: rt, RequestTimeout: 5 * time.Second, Quirks: &Quirks{BusyRetries: 2}})
	if err != nil {
		return info, fail(CodeUnreachable, err)
	}
	caps, err := c.Capabilities(ctx)
	if err != nil {
		return info, err
	}
	info.MakeAndModel = caps.MakeAndModel
	for _, s := range []Source{Flatbed, ADF, ADFDuplex} {
		if caps.Source(s) != nil {
			info.Sources = append(info.Sources, s)
		}
	}
	st, err := c.Status(ctx)
	if err != nil {
		return info, err
	}
	info.State, info.ADF = st.State, st.ADF
	return info, nil
}

// Problem returns what the feeder state stands in the way of scanning (jam, open cover) as a
// *devices.Error with its German hint, or nil. An empty feeder is no problem for the flatbed.
func (i Info) Problem() error {
	return (&Status{ADF: i.ADF}).feederError(false)
}
