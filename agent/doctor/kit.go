package doctor

import (
	"context"
	"fmt"
	"time"

	"koffer/agent/client"
	"koffer/agent/keys"
	"koffer/devices"
	"koffer/devices/ipp"
	"koffer/devices/profile"
	"koffer/store"
)

// KitOptions describe the kit ForKit checks. Zero values mean default.
type KitOptions struct {
	DataDir string
	Profile *profile.Profile // nil: no device expectations, town hall from the kit bundle
	Now     func() time.Time
	// Discover and OpenReader reach the fingerprint reader (default usbreader.Discover and
	// OpenUSBReader). OpenReader is skipped while the agent runs: it holds the reader.
	Discover   Readers
	OpenReader ReaderOpener
	// Printer and Scanner build the device for a profile entry (defaults: IPPPrinter for
	// network printers, USBPrinter for IPP-over-USB ones, ESCLScanner for network scanners;
	// a USB scanner entry is checked for presence by koffer devices only).
	Printer func(profile.Device) Printer
	Scanner func(profile.Device) Scanner
	// DiskWarnBelow and DiskFailBelow are the free-space thresholds (see Disk).
	DiskWarnBelow, DiskFailBelow uint64
	// Store is the running agent's own store (the Technik page inside the daemon): used instead
	// of opening a second store on the same database, and left open. The agent counts as running.
	Store Store
	// OpenTimeout bounds opening the database (default 5 s).
	OpenTimeout time.Duration
}

// Kit is the set of checks for one data directory, with the store they read.
type Kit struct {
	Checks []Check
	// AgentRunning reports whether a koffer agent answered on the data directory's socket.
	AgentRunning bool
	st           *store.Store
}

// Close releases the store.
func (k *Kit) Close() error {
	if k.st != nil {
		return k.st.Close()
	}
	return nil
}

// ForKit builds the checks of the kit in opts.DataDir. It reads the database directly, beside
// a running agent if there is one: SQLite in WAL mode lets readers run while the agent writes
// (the agent's lock file only keeps a second agent away). It never creates a database.
func ForKit(ctx context.Context, opts KitOptions) *Kit {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = time.Second
	}
	if opts.Printer == nil {
		opts.Printer = func(d profile.Device) Printer {
			if !d.Network() {
				return &USBPrinter{ID: d.USBID}
			}
			return &IPPPrinter{URI: d.URI, Options: ipp.Options{RequestTimeout: DefaultTimeout - margin}}
		}
	}
	if opts.OpenReader == nil {
		opts.OpenReader = OpenUSBReader
	}
	k := &Kit{}
	dir := opts.DataDir

	if opts.Store != nil {
		k.AgentRunning = true // the doctor runs inside the agent (the Technik page)
	} else {
		// A local socket answers in milliseconds; the whole doctor has 3 s.
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := client.New(dir).Status(actx)
		cancel()
		k.AgentRunning = err == nil
	}
	agentResult := ok("running")
	if !k.AgentRunning {
		agentResult = warn("not running (checked the data directory directly)", "agent.not-running",
			"Der Dienst des Koffers läuft nicht: keine Erfassung und keine Übertragung. Bitte den Laptop neu starten; hilft das nicht, die Technik rufen.",
			"The koffer agent is not running (systemctl status koffer): nothing is captured or sent. Start it; see the logs if it does not stay up.")
	}
	k.Checks = append(k.Checks, Func{"agent", func(context.Context) Result { return agentResult }})

	var openErr error
	var st Store
	if opts.Store != nil {
		st = opts.Store
	} else if openErr = dataDirProblem(dir); openErr == nil {
		octx, cancel := context.WithTimeout(ctx, opts.OpenTimeout)
		k.st, openErr = openStore(octx, dir, opts.Now)
		cancel()
		if k.st != nil {
			st = k.st
		}
	}
	k.Checks = append(k.Checks,
		&Disk{Dir: dir, WarnBelow: opts.DiskWarnBelow, FailBelow: opts.DiskFailBelow},
		&Database{St: st, OpenErr: openErr},
		&Queue{St: st, OpenErr: openErr},
		&Audit{St: st, OpenErr: openErr},
		&Keys{Dir: dir},
		&Cert{Dir: dir, Now: opts.Now},
	)

	// The town hall is the enrollment bundle's: its URL and its pinned CA come together.
	kit, kerr := keys.LoadKit(dir)
	if kerr == nil {
		townhall := kit.Bundle.URL
		tlsCfg, err := kit.Bundle.ClientTLS()
		if err == nil && !kit.Training {
			k.Checks = append(k.Checks, &Uplink{URL: townhall, TLS: tlsCfg}, &Clock{URL: townhall, TLS: tlsCfg, Now: opts.Now})
		}
	}

	fp := &Fingerprint{Discover: opts.Discover}
	if !k.AgentRunning {
		fp.Open = opts.OpenReader
	}
	k.Checks = append(k.Checks, fp)
	for _, d := range opts.Profile.Of(devices.Printer) {
		k.Checks = append(k.Checks, named(&PrinterCheck{P: opts.Printer(d)}, "printer", d))
	}
	if opts.Scanner == nil {
		opts.Scanner = func(d profile.Device) Scanner {
			if !d.Network() {
				return nil
			}
			return &ESCLScanner{BaseURL: d.URI}
		}
	}
	for _, d := range opts.Profile.Of(devices.Scanner) {
		if s := opts.Scanner(d); s != nil {
			k.Checks = append(k.Checks, named(&ScannerCheck{S: s}, "scanner", d))
		}
	}
	return k
}

// openStore opens the store, turning a panic of the driver on a mangled file into an error.
func openStore(ctx context.Context, dir string, now func() time.Time) (st *store.Store, err error) {
	defer func() {
		if p := recover(); p != nil {
			st, err = nil, fmt.Errorf("open store: %v", p)
		}
	}()
	st, err = store.Open(ctx, dir, store.Options{Now: now})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// named gives device checks a name per profile entry when the profile names several.
func named(c Check, kind string, d profile.Device) Check {
	name := kind
	if d.Name != "" {
		name = kind + " " + d.Name
	}
	return Func{name, c.Run}
}
