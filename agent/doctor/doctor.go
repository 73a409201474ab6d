// Package doctor runs the technician's health checks of a kit: each check measures one concern
// (disk, database, keys, uplink, clock, queue, audit chain, devices) and says ok, warn or fail
// with a German and an English hint. Checks run concurrently, each under its own deadline, so a
// hanging device or a panicking check becomes a failed result instead of a hung or crashed run.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"koffer/devices"
)

// Status is the outcome of one check; the order ok < warn < fail is the severity.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

func (s Status) rank() int {
	switch s {
	case OK:
		return 0
	case Warn:
		return 1
	}
	return 2
}

// ExitCode is the process exit status for s: 0 ok, 1 warn, 2 fail.
func (s Status) ExitCode() int { return s.rank() }

// Result is what one check found. Value is the measured value ("12.3 GiB free", "rtt 4ms"),
// Code a stable English identifier for the technician ("disk.low"), the hints say what to do.
type Result struct {
	Check    string        `json:"check"`
	Status   Status        `json:"status"`
	Value    string        `json:"value,omitempty"`
	Code     string        `json:"code,omitempty"`
	HintDE   string        `json:"hint_de,omitempty"`
	HintEN   string        `json:"hint_en,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Check is one concern of the kit.
type Check interface {
	Name() string
	Run(ctx context.Context) Result
}

// Func adapts a function to Check.
type Func struct {
	CheckName string
	F         func(ctx context.Context) Result
}

var _ Check = Func{}

func (f Func) Name() string                   { return f.CheckName }
func (f Func) Run(ctx context.Context) Result { return f.F(ctx) }

// Options tune Run. Zero values mean default.
type Options struct {
	// Timeout bounds each check (default DefaultTimeout). A check still running then fails.
	Timeout time.Duration
	// Timeouts overrides Timeout per check name (the uplink may need longer than the disk).
	Timeouts map[string]time.Duration
}

// DefaultTimeout bounds each check when Options.Timeout is zero. Checks run concurrently, so
// with the agent probe (0.5 s) the whole doctor stays within 3 s even on a silent link.
const DefaultTimeout = 2 * time.Second

// Report is the outcome of a run: the worst status and every result, sorted by check name.
type Report struct {
	Status   Status        `json:"status"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Results  []Result      `json:"results"`
}

// ExitCode is 0, 1 or 2 for ok, warn, fail.
func (r Report) ExitCode() int { return r.Status.ExitCode() }

// Run runs every check concurrently, each with its own deadline, and returns when all have
// answered or timed out. A check that outlives its deadline is reported as failed and left to
// end on its cancelled context; a check that panics is reported as failed.
func Run(ctx context.Context, checks []Check, opts Options) Report {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	start := time.Now()
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		timeout := opts.Timeout
		if d, ok := opts.Timeouts[c.Name()]; ok && d > 0 {
			timeout = d
		}
		wg.Go(func() { results[i] = runOne(ctx, c, timeout) })
	}
	wg.Wait()
	rep := Report{Status: OK, Started: start, Duration: time.Since(start), Results: results}
	for _, r := range results {
		if r.Status.rank() > rep.Status.rank() {
			rep.Status = r.Status
		}
	}
	sort.SliceStable(rep.Results, func(a, b int) bool { return rep.Results[a].Check < rep.Results[b].Check })
	return rep
}

func runOne(parent context.Context, c Check, timeout time.Duration) Result {
	name := c.Name()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	start := time.Now()
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- Result{Status: Fail, Code: "check.panic", Value: fmt.Sprint(p),
					HintDE: "Die Prüfung ist abgestürzt. Bitte das Support-Paket (koffer doctor --bundle) an die Technik senden.",
					HintEN: "The check panicked; send the support bundle (koffer doctor --bundle) to the developers."}
			}
		}()
		done <- c.Run(ctx)
	}()
	var r Result
	select {
	case r = <-done:
	case <-ctx.Done():
		r = Result{Status: Fail, Code: "check.timeout", Value: fmt.Sprintf("no answer within %s", timeout),
			HintDE: "Die Prüfung hat nicht rechtzeitig geantwortet. Gerät bzw. Verbindung prüfen, neu anschließen und erneut prüfen.",
			HintEN: "The check did not answer before its deadline; check the device or connection, reconnect and run doctor again."}
		if parent.Err() != nil {
			r.Code, r.Value = "check.cancelled", "cancelled"
		}
	}
	r.Check = name
	if r.Status == "" {
		r.Status = Fail
	}
	r.Duration = time.Since(start)
	return r
}

// ok, warn and fail build results.
func ok(value string) Result { return Result{Status: OK, Value: value} }

func warn(value, code, de, en string) Result {
	return Result{Status: Warn, Value: value, Code: code, HintDE: de, HintEN: en}
}

func fail(value, code, de, en string) Result {
	return Result{Status: Fail, Value: value, Code: code, HintDE: de, HintEN: en}
}

// deviceFail turns a device error into a failed result, keeping its code and German hint.
func deviceFail(err error, code, de, en string) Result {
	var de2 *devices.Error
	if errors.As(err, &de2) {
		if de2.Code != "" {
			code = de2.Code
		}
		if de2.Hint != "" {
			de = de2.Hint
		}
	}
	return fail(err.Error(), code, de, en)
}
