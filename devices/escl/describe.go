package escl

import (
	"context"
	"errors"
	"time"

	"koffer/devices"
)

// Info describes one scanner for `koffer devices` and the technician's view.
type Info struct {
	URI          string
	MakeAndModel string
	SerialNumber string
	Sources      []string // "flatbed", "adf", "adf-duplex"
	State        State
	ADFState     ADFState
	// Err is the *devices.Error why the scanner could not be asked, or nil.
	Err *devices.Error
}

// Describe asks the scanner at uri (the eSCL root, e.g. "http://host:8080/eSCL") for its
// capabilities and status within timeout (0: 5s). It never fails: what went wrong is in Err.
func Describe(ctx context.Context, uri string, timeout time.Duration, opts Options) Info {
	info := Info{URI: uri}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if opts.Retries == 0 {
		opts.Retries = 2
	}
	if opts.RequestTimeout == 0 || opts.RequestTimeout > timeout {
		opts.RequestTimeout = timeout
	}
	c, err := New(uri, opts)
	if err != nil {
		info.Err = newError(CodeUnreachable, err)
		return info
	}
	caps, err := c.Capabilities(ctx)
	if err != nil {
		info.Err = asDeviceError(err)
		return info
	}
	info.MakeAndModel, info.SerialNumber = caps.MakeAndModel, caps.SerialNumber
	if caps.Platen != nil {
		info.Sources = append(info.Sources, "flatbed")
	}
	if caps.ADFSimplex != nil {
		info.Sources = append(info.Sources, "adf")
	}
	if caps.ADFDuplex != nil {
		info.Sources = append(info.Sources, "adf-duplex")
	}
	st, err := c.Status(ctx)
	if err != nil {
		info.Err = asDeviceError(err)
		return info
	}
	info.State, info.ADFState = st.State, st.ADFState
	return info
}

func asDeviceError(err error) *devices.Error {
	var de *devices.Error
	if errors.As(err, &de) {
		return de
	}
	return newError(CodeBadResponse, err)
}

// Problem is what the feeder's state stands in the way of, as a *devices.Error, or nil. An
// empty feeder is no problem: the flatbed still works.
func (i Info) Problem() *devices.Error {
	switch i.ADFState {
	case ADFJam, ADFMispick, ADFMultiFeed, ADFDuplexJam:
		return newError(CodeADFJam, errors.New("feeder state "+string(i.ADFState)))
	case ADFHatchOpen:
		return newError(CodeADFOpen, errors.New("feeder state "+string(i.ADFState)))
	}
	return nil
}
