// Package webtest runs the handler and browser tests of agent/web against the real application
// core (agent/casework) on a real store in a temporary directory: drafts, rules, the
// fingerprint procedure and sealing are the core's own. Only what surrounds the core is
// scripted here: the caseworkers, the day's visits, the devices (qualities, failures) and the
// start page's queue and uplink. Never wire it into the daemon.
package webtest

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/ed25519"
	"errors"
	"fmt"
	"image"
	"image/png"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"koffer/agent/casework"
	"koffer/agent/keys"
	"koffer/agent/localapi"
	"koffer/agent/web"
	"koffer/devices"
	"koffer/devices/fingerprint"
	"koffer/devices/ipp"
	"koffer/store"
	"koffer/sync/packet"
	"koffer/sync/visit"
)

var _ web.Backend = (*Fake)(nil)

// Fake is web.Backend over a real casework.Core. Set Now before serving.
type Fake struct {
	*casework.Core
	Now func() time.Time // default time.Now
	st  *store.Store

	mu        sync.Mutex
	users     map[string]string // name -> passphrase
	visits    []web.Visit
	booked    map[string]*visit.Appointment
	overview  web.Overview
	subs      []chan web.Event
	printErr  error
	scanErr   error
	qualities []int  // next capture qualities (NFIQ 2); 80 when empty
	printing  string // the document being printed

	// Counters for assertions.
	Prints   map[string]int // doc -> printed
	Seals    int
	Locks    int
	Captures int
}

// New returns the core on a store in t's temporary directory with one caseworker "anna" /
// "korrekt pferd batterie", two visits and ready devices.
func New(t testing.TB) *Fake {
	t.Helper()
	f := &Fake{
		users:  map[string]string{"anna": "korrekt pferd batterie"},
		Prints: map[string]int{},
		booked: map[string]*visit.Appointment{},
	}
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{Now: f.now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f.st = st
	dk, err := keys.NewDataKey()
	require.NoError(t, err)
	aead, err := dk.AEAD()
	require.NoError(t, err)
	_, kitKey, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	townhall, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	f.Core = casework.New(casework.Options{
		Store: st, Keys: keyring{aead}, KitID: "webtest",
		Sealer: &packet.Sealer{KitID: "webtest", Key: kitKey, Recipient: townhall.Recipient(), Now: f.now},
		Visits: f, Training: true, Now: f.now,
		Devices: casework.Devices{Printer: printer{f}, Scanner: scanner{f}, Reader: reader{f}, Scorer: scorer{f}, Training: true},
	})

	f.visits = []web.Visit{
		{ID: "v1", Time: "10:00", Name: "Erika Mustermann", Place: "Seniorenheim Am Park, Zimmer 12",
			Services: []web.Service{web.Personalausweis, web.Meldebescheinigung}},
		{ID: "v2", Time: "11:30", Name: "Hans Beispiel", Place: "Lindenstraße 4, 2. OG",
			Services: []web.Service{web.Wohnsitzanmeldung, web.Lebensbescheinigung}},
	}
	f.booked["v1"] = &visit.Appointment{ID: "v1", Person: visit.Person{FamilyName: "Mustermann", GivenNames: "Erika",
		BirthDate: "1943-08-12", BirthPlace: "Köln", Nationality: "DEU",
		Address: visit.Address{Street: "Parkallee", HouseNumber: "3", PostalCode: "50667", City: "Köln"}},
		Register: &visit.Extract{FamilyName: "Mustermann", GivenNames: "Erika", BirthDate: "1943-08-12", BirthPlace: "Köln",
			Residences: []visit.Residence{{Address: "Parkallee 3, 50667 Köln", Dwelling: "alleinige Wohnung"}}}}
	f.booked["v2"] = &visit.Appointment{ID: "v2", Person: visit.Person{FamilyName: "Beispiel", GivenNames: "Hans",
		BirthDate: "1950-03-01", BirthPlace: "Bremen", Nationality: "DEU",
		Address: visit.Address{Street: "Lindenstraße", HouseNumber: "4", PostalCode: "28195", City: "Bremen"}}}
	f.overview = web.Overview{
		Uplink: web.Uplink{Online: false, Detail: "Kein Mobilfunk. Vorgänge werden später übertragen."},
		Devices: []web.Device{
			{Kind: "printer", Name: "Simulation", Driver: "sim", State: localapi.DeviceReady},
			{Kind: "scanner", Name: "Simulation", Driver: "sim", State: localapi.DeviceReady},
			{Kind: "fingerprint", Name: "Simulation", Driver: "sim", State: localapi.DeviceReady},
		},
	}
	return f
}

type keyring struct{ aead cipher.AEAD }

func (k keyring) DataKey() (cipher.AEAD, error) { return k.aead, nil }

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Visits implements casework.Visits.
func (f *Fake) Visits(context.Context, string) ([]casework.Appointment, error) {
	var out []casework.Appointment
	for _, v := range f.visits {
		out = append(out, casework.Appointment{ID: v.ID, Appointment: *f.booked[v.ID]})
	}
	return out, nil
}

// Appointment implements casework.Visits.
func (f *Fake) Appointment(_ context.Context, id string) (*visit.Appointment, error) {
	if ap, ok := f.booked[id]; ok {
		return ap, nil
	}
	return nil, fmt.Errorf("visit %q: %w", id, store.ErrNotFound)
}

// SetOverview replaces queue, uplink and devices and notifies subscribers.
func (f *Fake) SetOverview(q web.Queue, u web.Uplink, d []web.Device) {
	f.mu.Lock()
	f.overview.Queue, f.overview.Uplink, f.overview.Devices = q, u, d
	f.mu.Unlock()
	f.Publish(web.Event{Kind: "devices"})
}

// FailPrint makes the next prints fail with err (nil clears it).
func (f *Fake) FailPrint(err error) { f.mu.Lock(); f.printErr = err; f.mu.Unlock() }

// FailScan makes the next scans fail with err (nil clears it).
func (f *Fake) FailScan(err error) { f.mu.Lock(); f.scanErr = err; f.mu.Unlock() }

// QueueQualities scripts the NFIQ 2 score of the next captures.
func (f *Fake) QueueQualities(q ...int) {
	f.mu.Lock()
	f.qualities = append(f.qualities, q...)
	f.mu.Unlock()
}

// Publish sends an event to every subscriber.
func (f *Fake) Publish(ev web.Event) {
	f.mu.Lock()
	subs := slices.Clone(f.subs)
	f.mu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Login implements web.Backend.
func (f *Fake) Login(_ context.Context, name, pass string) (web.Caseworker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.users[name]; !ok || p != pass {
		return web.Caseworker{}, web.ErrBadLogin
	}
	return web.Caseworker{Name: name, Display: strings.ToUpper(name[:1]) + name[1:]}, nil
}

// Lock implements web.Backend.
func (f *Fake) Lock(context.Context, string) error {
	f.mu.Lock()
	f.Locks++
	f.mu.Unlock()
	return nil
}

// Store is the real store under the core (for assertions on rows, files and the audit log).
func (f *Fake) Store() *store.Store { return f.st }

// Touch implements web.Backend: the fake's key never expires.
func (f *Fake) Touch(context.Context, string) error { return nil }

// Overview implements web.Backend: the scripted queue, uplink and devices.
func (f *Fake) Overview(context.Context) (web.Overview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ov := f.overview
	ov.Now = f.now()
	ov.Visits = slices.Clone(f.visits)
	ov.Devices = slices.Clone(f.overview.Devices)
	return ov, nil
}

// Do implements web.Backend over the core, counting what reached the printer and the cases
// sealed.
func (f *Fake) Do(ctx context.Context, ch web.Change, a casework.Action) (*web.Case, error) {
	switch a := a.(type) {
	case casework.Print:
		f.mu.Lock()
		f.printing = a.Doc
		f.mu.Unlock()
	case casework.Seal:
		return f.seal(ctx, ch)
	}
	return f.Core.Do(ctx, ch, a)
}

func (f *Fake) seal(ctx context.Context, ch web.Change) (*web.Case, error) {
	before, err := f.Core.Case(ctx, ch.CaseID)
	if err != nil {
		return nil, err
	}
	c, err := f.Core.Do(ctx, ch, casework.Seal{})
	if err == nil && before.State == "draft" && c.State == "sealed" {
		f.mu.Lock()
		f.Seals++
		f.overview.Queue.Waiting++
		if f.overview.Queue.Oldest.IsZero() {
			f.overview.Queue.Oldest = f.now()
		}
		f.mu.Unlock()
	}
	return c, err
}

// Subscribe implements web.Backend: the events Publish sends.
func (f *Fake) Subscribe(ctx context.Context) <-chan web.Event {
	ch := make(chan web.Event, 8)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		f.subs = slices.DeleteFunc(f.subs, func(c chan web.Event) bool { return c == ch })
		f.mu.Unlock()
	}()
	return ch
}

type printer struct{ f *Fake }

func (p printer) Print(context.Context, ipp.Document, func(ipp.JobStatus)) (ipp.Result, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	if p.f.printErr != nil {
		return ipp.Result{}, p.f.printErr
	}
	p.f.Prints[p.f.printing]++
	return ipp.Result{}, nil
}

type scanner struct{ f *Fake }

// ScanDocument returns a small PNG page (the photo comes from the camera, never the scanner).
func (s scanner) ScanDocument(context.Context) ([]byte, error) {
	s.f.mu.Lock()
	err := s.f.scanErr
	s.f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 40, 50))); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type reader struct{ f *Fake }

func (r reader) Capture(context.Context) (*fingerprint.Image, error) {
	r.f.mu.Lock()
	r.f.Captures++
	r.f.mu.Unlock()
	g := image.NewGray(image.Rect(0, 0, 64, 80))
	for i := range g.Pix {
		g.Pix[i] = byte(i * 7)
	}
	return &fingerprint.Image{Gray: g, PPI: 500}, nil
}

type scorer struct{ f *Fake }

// Score hands out the scripted qualities as NFIQ 2 scores.
func (s scorer) Score(context.Context, *fingerprint.Image) (fingerprint.Score, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	q := 80
	if len(s.f.qualities) > 0 {
		q, s.f.qualities = s.f.qualities[0], s.f.qualities[1:]
	}
	return fingerprint.Score{Value: q, Method: fingerprint.MethodNFIQ2}, nil
}

// PrinterOutOfPaper is the device error the real printer reports for media-empty.
var PrinterOutOfPaper = &devices.Error{Kind: devices.Printer, Code: "printer.media-empty",
	Hint: "Papier einlegen und auf Weiter tippen.", Err: errors.New("media-empty")}
