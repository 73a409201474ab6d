package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/fingerprint"
	"koffer/devices/fingerprint/iso19794"
	"koffer/sync/enroll"
	"koffer/sync/packet"
	"koffer/sync/receipt"
	"koffer/sync/uplink"
)

// testKit is the kit side of a test: a bundle, an outbox, an audit log and the visit packs it
// received, with the real uplink sending to the town hall.
type testKit struct {
	t      *testing.T
	bundle *enroll.Bundle
	dir    string
	mu     sync.Mutex
	items  map[string]*kitItem
	audit  []receipt.AuditEntry
	visits map[string][]byte
	// visitKey opens the kit's visit packs; the agent keeps it under the data key.
	visitKey *age.X25519Identity
	up       *uplink.Uplink
}

type kitItem struct {
	uplink.OutboxItem
	parked    string
	delivered *uplink.Receipt
}

var (
	_ uplink.Outbox      = (*testKit)(nil)
	_ uplink.VisitSink   = (*testKit)(nil)
	_ uplink.AuditLog    = (*testKit)(nil)
	_ uplink.QueueSource = (*testKit)(nil)
)

// enrollKit runs `townhall kit add` and starts the kit's uplink against url until the test ends.
func enrollKit(t *testing.T, f *factory, name, url string) *testKit {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".json")
	require.NoError(t, kitAddRun(&kitAddOptions{f: f, ctx: t.Context(), name: name, url: url, out: file}))
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	b, err := enroll.Parse(data)
	require.NoError(t, err)
	vk, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	k := &testKit{t: t, bundle: b, dir: t.TempDir(), items: map[string]*kitItem{}, visits: map[string][]byte{}, visitKey: vk}
	k.up, err = uplink.New(uplink.Options{
		Bundle: b, Outbox: k, Visits: k, Audit: k, Queue: k, Logger: slog.New(slog.DiscardHandler),
		BackoffBase: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond,
		LinkRetryBase: 50 * time.Millisecond, LinkRetryMax: 200 * time.Millisecond,
		StallTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second, VisitInterval: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.up.Run(ctx) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })
	return k
}

// seal seals a case as the agent does (sync/packet, the kit's key, the town hall's
// recipient), queues it, and notes it in the kit's audit log with the caseworker as actor.
func (k *testKit) seal(service, caseworker string, parts []packet.Part) string {
	k.t.Helper()
	return k.sealAt(time.Now, service, caseworker, parts)
}

// sealAt seals with the kit's clock at now.
func (k *testKit) sealAt(now func() time.Time, service, caseworker string, parts []packet.Part) string {
	k.t.Helper()
	key, err := k.bundle.SigningKey()
	require.NoError(k.t, err)
	return k.sealSigned(key, now, service, caseworker, parts)
}

// sealSigned seals with key (another kit's key makes a packet the town hall refuses).
func (k *testKit) sealSigned(key ed25519.PrivateKey, now func() time.Time, service, caseworker string, parts []packet.Part) string {
	k.t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	rcp, err := k.bundle.AgeRecipient()
	require.NoError(k.t, err)
	var buf bytes.Buffer
	_, err = (&packet.Sealer{KitID: k.bundle.KitID, Key: key, Recipient: rcp, Now: now}).Seal(&buf,
		packet.Manifest{CaseID: id, Service: service, CreatedAt: time.Now().Add(-time.Minute)}, parts)
	require.NoError(k.t, err)
	path := filepath.Join(k.dir, id+".pkt")
	require.NoError(k.t, os.WriteFile(path, buf.Bytes(), 0o600))
	k.mu.Lock()
	k.items[id] = &kitItem{OutboxItem: uplink.OutboxItem{CaseID: id, Service: service, PacketPath: path, Size: int64(buf.Len()), CreatedAt: time.Now()}}
	var prev []byte
	if n := len(k.audit); n > 0 {
		prev = k.audit[n-1].Hash
	}
	e := receipt.AuditEntry{Seq: int64(len(k.audit) + 1), At: time.Now().UTC(), Event: "caseSealed", CaseID: id, Actor: caseworker, PrevHash: prev}
	h := sha256.Sum256(fmt.Appendf(prev, "%d|%s|%s|%s", e.Seq, e.Event, e.CaseID, e.Actor))
	e.Hash = h[:]
	k.audit = append(k.audit, e)
	k.mu.Unlock()
	k.up.Kick()
	return id
}

// waitFor polls cond (state the uplink changes from its own goroutine) until it holds.
func (k *testKit) waitFor(what string, cond func() bool) {
	k.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			k.t.Fatalf("kit: %s did not happen within 20 s (uplink %+v)", what, k.up.State())
		}
		k.up.Kick()
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *testKit) item(id string) kitItem {
	k.mu.Lock()
	defer k.mu.Unlock()
	return *k.items[id]
}

func (k *testKit) visitPacks() map[string][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string][]byte{}
	for id, v := range k.visits {
		out[id] = v
	}
	return out
}

func (k *testKit) NextOutbox(_ context.Context, now time.Time) (*uplink.OutboxItem, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var due []*kitItem
	var next time.Time
	for _, it := range k.items {
		if it.parked != "" || it.delivered != nil {
			continue
		}
		if it.NextAttemptAt.After(now) {
			if next.IsZero() || it.NextAttemptAt.Before(next) {
				next = it.NextAttemptAt
			}
			continue
		}
		due = append(due, it)
	}
	if len(due) == 0 {
		return nil, &uplink.IdleError{Next: next}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].CreatedAt.Before(due[j].CreatedAt) })
	c := due[0].OutboxItem
	return &c, nil
}

func (k *testKit) update(id string, f func(*kitItem)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	it, ok := k.items[id]
	if !ok {
		return errors.New("no such case")
	}
	f(it)
	return nil
}

func (k *testKit) SetUploadURL(_ context.Context, id, url string) error {
	return k.update(id, func(it *kitItem) { it.UploadURL = url })
}

func (k *testKit) RecordAttemptFailure(_ context.Context, id, _ string, next time.Time) error {
	return k.update(id, func(it *kitItem) { it.Attempts++; it.NextAttemptAt = next })
}

func (k *testKit) RetryNow(_ context.Context, now time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, it := range k.items {
		if it.parked == "" && it.delivered == nil && it.NextAttemptAt.After(now) {
			it.NextAttemptAt = now
		}
	}
	return nil
}

func (k *testKit) Park(_ context.Context, id, reason string) error {
	return k.update(id, func(it *kitItem) { it.parked = reason })
}

func (k *testKit) Deliver(_ context.Context, id string, r uplink.Receipt) error {
	return k.update(id, func(it *kitItem) { it.delivered = &r })
}

func (k *testKit) VisitRecipient() (string, error) { return k.visitKey.Recipient().String(), nil }

func (k *testKit) StoreVisitPack(_ context.Context, id string, sealed []byte) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.visits[id] = sealed
	return true, nil
}

// QueueReport counts the cases not delivered, as the agent's store does.
func (k *testKit) QueueReport(context.Context) (receipt.QueueReport, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var r receipt.QueueReport
	var oldest time.Time
	for _, it := range k.items {
		if it.delivered != nil {
			continue
		}
		r.Depth++
		if it.parked != "" {
			r.Parked++
		}
		if oldest.IsZero() || it.CreatedAt.Before(oldest) {
			oldest = it.CreatedAt
		}
	}
	if r.Depth > 0 {
		r.OldestAgeSeconds = int64(time.Since(oldest) / time.Second)
	}
	return r, nil
}

func (k *testKit) AuditEntries(_ context.Context, after int64, limit int) ([]receipt.AuditEntry, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []receipt.AuditEntry
	for _, e := range k.audit {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

// personalausweis returns the parts of a Personalausweis case as the agent builds them:
// form.json, the photo, two ISO/IEC 19794-4 finger image records and the signature.
func personalausweis(t *testing.T) []packet.Part {
	t.Helper()
	q62, q48 := 62, 48
	fingerRec := func(f fingerprint.Finger, quality uint8, seed int) []byte {
		const w, h = 160, 200
		pix := make([]byte, w*h)
		for y := range h {
			for x := range w {
				// Ridges: concentric rings around the core, as a finger image roughly has.
				d := (x-w/2)*(x-w/2) + (y-h/2)*(y-h/2)
				pix[y*w+x] = byte(255 - 200*((d/(90+seed))%2))
			}
		}
		rec := &iso19794.Record{AcquisitionLevel: iso19794.AcquisitionLevel31, ScaleUnits: iso19794.ScaleUnitsPPI,
			ScanResX: 500, ScanResY: 500, ImageResX: 500, ImageResY: 500, PixelDepth: 8, Compression: iso19794.Uncompressed,
			Views: []iso19794.View{{Position: f, Views: 1, ViewNumber: 1, Quality: quality, Width: w, Height: h, Data: pix}}}
		b, err := rec.MarshalBinary()
		require.NoError(t, err)
		return b
	}
	photo := image.NewRGBA(image.Rect(0, 0, 413, 531))
	for y := range 531 {
		for x := range 413 {
			photo.Set(x, y, color.RGBA{uint8(180 + x%40), uint8(170 + y%50), 160, 255})
		}
	}
	var jpg bytes.Buffer
	require.NoError(t, jpeg.Encode(&jpg, photo, &jpeg.Options{Quality: 80}))
	sig := image.NewGray(image.Rect(0, 0, 300, 100))
	for i := range sig.Pix {
		sig.Pix[i] = 255
	}
	for x := 20; x < 280; x++ {
		sig.SetGray(x, 50+(x%40)-20, color.Gray{0})
	}
	var sigPNG bytes.Buffer
	require.NoError(t, png.Encode(&sigPNG, sig))
	form, err := json.Marshal(map[string]any{
		"service": "personalausweis", "applied_at": time.Now().UTC(), "kit_id": "kit-1",
		"person": map[string]any{"family_name": "Müßiggang", "given_names": "Hedwig", "birth_date": "1931-02-03",
			"birth_place": "Köln", "nationality": "DEU",
			"address": map[string]any{"street": "Lindenweg", "house_number": "7", "postal_code": "12345", "city": "Musterstadt"}},
		"details": map[string]any{"height_cm": 162, "eye_color": "grau"},
		"age":     95, "fee_cents": 4600, "fee_currency": "EUR",
		"attachments": []map[string]any{
			{"part": "photo-1.jpg", "kind": "photo"},
			{"part": "fingerprint-2.fir", "kind": "fingerprint", "finger": "right_index", "attempts": 1, "quality": q62},
			{"part": "fingerprint-3.fir", "kind": "fingerprint", "finger": "left_index", "attempts": 3, "quality": q48},
			{"part": "signature-4.png", "kind": "signature"},
		},
	})
	require.NoError(t, err)
	return []packet.Part{
		{Name: "form.json", Kind: packet.KindForm, Data: form},
		{Name: "photo-1.jpg", Kind: packet.KindPhoto, Data: jpg.Bytes()},
		{Name: "fingerprint-2.fir", Kind: packet.KindFingerprint, Finger: "right_index", Data: fingerRec(fingerprint.RightIndex, 62, 0)},
		{Name: "fingerprint-3.fir", Kind: packet.KindFingerprint, Finger: "left_index", Data: fingerRec(fingerprint.LeftIndex, 48, 30)},
		{Name: "signature-4.png", Kind: packet.KindSignature, Data: sigPNG.Bytes()},
	}
}
