package packet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type keys struct {
	sealer *Sealer
	pub    ed25519.PublicKey
	id     *age.X25519Identity
}

func newKeys(t testing.TB) keys {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return keys{
		sealer: &Sealer{KitID: "kit-7", Key: priv, Recipient: id.Recipient(),
			Now: func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }},
		pub: pub, id: id,
	}
}

func testParts() []Part {
	return []Part{
		{Name: "form.json", Kind: KindForm, Data: []byte(`{"family_name":"Müßiggang","birth_date":"1931-02-03"}`)},
		{Name: "finger-right_index.iso", Kind: KindFingerprint, Finger: "right_index", Data: bytes.Repeat([]byte{0xA5}, 4096)},
		{Name: "empty.bin", Kind: KindScan, Data: nil},
	}
}

func seal(t testing.TB, k keys, parts []Part) ([]byte, Manifest) {
	t.Helper()
	var buf bytes.Buffer
	m, err := k.sealer.Seal(&buf, Manifest{CaseID: uuid.Must(uuid.NewV7()).String(), Service: "personalausweis"}, parts)
	require.NoError(t, err)
	return buf.Bytes(), m
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := newKeys(t)
	data, m := seal(t, k, testParts())

	assert.Equal(t, "kit-7", m.KitID)
	assert.Len(t, m.Parts, 3)
	h, err := ReadHeader(data)
	require.NoError(t, err)
	assert.Equal(t, Header{CaseID: m.CaseID, KitID: "kit-7"}, h)

	p, err := Open(data, k.pub, k.id)
	require.NoError(t, err)
	assert.Equal(t, m.CaseID, p.Manifest.CaseID)
	assert.Equal(t, "personalausweis", p.Manifest.Service)
	require.Len(t, p.Parts, 3)
	for i, want := range testParts() {
		assert.Equal(t, want.Name, p.Parts[i].Name)
		assert.Equal(t, want.Finger, p.Parts[i].Finger)
		assert.Equal(t, len(want.Data), len(p.Parts[i].Data))
		assert.True(t, bytes.Equal(want.Data, p.Parts[i].Data))
	}
}

func TestSealedPacketHidesPersonalData(t *testing.T) {
	k := newKeys(t)
	data, _ := seal(t, k, testParts())
	for _, s := range []string{"Müßiggang", "1931-02-03", "family_name", "right_index"} {
		assert.NotContains(t, string(data), s)
	}
}

func TestOpenRejects(t *testing.T) {
	k := newKeys(t)
	data, _ := seal(t, k, testParts())
	other := newKeys(t)

	flip := func(i int) []byte {
		b := bytes.Clone(data)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name string
		data []byte
		pub  ed25519.PublicKey
		id   age.Identity
		want error
	}{
		{name: "ciphertext altered", data: flip(len(data) / 2), pub: k.pub, id: k.id, want: ErrSignature},
		{name: "signature altered", data: flip(len(data) - 1), pub: k.pub, id: k.id, want: ErrSignature},
		{name: "header altered", data: bytes.Replace(data, []byte("kit kit-7"), []byte("kit kit-8"), 1), pub: k.pub, id: k.id, want: ErrSignature},
		{name: "other kit's key", data: data, pub: other.pub, id: k.id, want: ErrSignature},
		{name: "truncated", data: data[:len(data)-100], pub: k.pub, id: k.id, want: ErrSignature},
		{name: "no header", data: []byte("hello"), pub: k.pub, id: k.id, want: ErrMalformed},
		{name: "empty", data: nil, pub: k.pub, id: k.id, want: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.data, tt.pub, tt.id)
			assert.ErrorIs(t, err, tt.want)
			_, _, _, err = VerifyStream(opener(tt.data), int64(len(tt.data)), tt.pub, tt.id)
			assert.ErrorIs(t, err, tt.want, "VerifyStream")
		})
	}

	t.Run("other town hall's identity", func(t *testing.T) {
		_, err := Open(data, k.pub, other.id)
		assert.ErrorContains(t, err, "decrypt")
		_, _, _, err = VerifyStream(opener(data), int64(len(data)), k.pub, other.id)
		assert.ErrorContains(t, err, "decrypt")
	})
	t.Run("size shorter than the stream", func(t *testing.T) {
		_, _, _, err := VerifyStream(opener(data), int64(len(data))-1, k.pub, k.id)
		assert.ErrorIs(t, err, ErrSignature)
	})
}

func opener(data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

// TestVerifyStream: the streaming check accepts what Open accepts, with the same manifest and
// the packet's sha256, and refuses a part whose bytes do not match the manifest.
func TestVerifyStream(t *testing.T) {
	k := newKeys(t)
	data, _ := seal(t, k, testParts())
	p, err := Open(data, k.pub, k.id)
	require.NoError(t, err)
	h, m, sum, err := VerifyStream(opener(data), int64(len(data)), k.pub, k.id)
	require.NoError(t, err)
	assert.Equal(t, p.Manifest, m)
	assert.Equal(t, p.Manifest.CaseID, h.CaseID)
	assert.Equal(t, sha256.Sum256(data), sum)

	// Correctly signed, but a part differs from its manifest entry.
	caseID := uuid.Must(uuid.NewV7()).String()
	mf := Manifest{Version: Version, CaseID: caseID, KitID: k.sealer.KitID, Service: "personalausweis",
		Parts: []PartInfo{{Name: "form.json", Kind: KindForm, Size: 2, SHA256: hex.EncodeToString(make([]byte, 32))}}}
	raw, err := json.Marshal(mf)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, k.sealer.write(&buf, Header{CaseID: caseID, KitID: k.sealer.KitID}, []Part{{Name: manifestName, Data: raw}, {Name: "form.json", Data: []byte("{}")}}))
	_, _, _, err = VerifyStream(opener(buf.Bytes()), int64(buf.Len()), k.pub, k.id)
	assert.ErrorIs(t, err, ErrMalformed)
	assert.ErrorContains(t, err, "does not match its hash")
}

// TestPacketDuplicateParts builds correctly signed and encrypted packets whose manifest repeats a
// part name or names a part like the manifest: Open refuses both, so no later entry can stand
// in for a verified one.
func TestPacketDuplicateParts(t *testing.T) {
	k := newKeys(t)
	caseID := uuid.Must(uuid.NewV7()).String()
	hostile := func(t *testing.T, parts []Part) []byte {
		t.Helper()
		m := Manifest{Version: Version, CaseID: caseID, KitID: k.sealer.KitID, Service: "personalausweis"}
		for _, p := range parts {
			sum := sha256.Sum256(p.Data)
			m.Parts = append(m.Parts, PartInfo{Name: p.Name, Kind: p.Kind, Size: int64(len(p.Data)), SHA256: hex.EncodeToString(sum[:])})
		}
		raw, err := json.Marshal(m)
		require.NoError(t, err)
		var buf bytes.Buffer
		entries := append([]Part{{Name: manifestName, Data: raw}}, parts...)
		require.NoError(t, k.sealer.write(&buf, Header{CaseID: caseID, KitID: k.sealer.KitID}, entries))
		return buf.Bytes()
	}
	form := Part{Name: "form.json", Kind: KindForm, Data: []byte(`{"family_name":"Echt"}`)}
	forged := Part{Name: "form.json", Kind: KindForm, Data: []byte(`{"family_name":"Untergeschoben"}`)}
	tests := []struct {
		name  string
		parts []Part
	}{
		{name: "repeated part name", parts: []Part{form, forged}},
		{name: "part named manifest.json", parts: []Part{form, {Name: manifestName, Kind: KindForm, Data: []byte(`{}`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(hostile(t, tt.parts), k.pub, k.id)
			assert.ErrorIs(t, err, ErrMalformed)
			assert.ErrorContains(t, err, "repeated or reserved")
		})
	}
	t.Run("the same builder makes packets Open accepts", func(t *testing.T) {
		p, err := Open(hostile(t, []Part{form}), k.pub, k.id)
		require.NoError(t, err)
		assert.Equal(t, form.Data, p.Parts[0].Data)
	})
}

func TestSealRejectsBadInput(t *testing.T) {
	k := newKeys(t)
	tests := []struct {
		name   string
		caseID string
		parts  []Part
	}{
		{name: "case id not a uuid", caseID: "abc", parts: testParts()},
		{name: "path in part name", caseID: uuid.NewString(), parts: []Part{{Name: "../etc/passwd"}}},
		{name: "repeated part", caseID: uuid.NewString(), parts: []Part{{Name: "a"}, {Name: "a"}}},
		{name: "part named like the manifest", caseID: uuid.NewString(), parts: []Part{{Name: "manifest.json"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := k.sealer.Seal(&buf, Manifest{CaseID: tt.caseID}, tt.parts)
			assert.Error(t, err)
		})
	}
}

func FuzzOpen(f *testing.F) {
	k := newKeys(f)
	data, _ := seal(f, k, testParts())
	f.Add(data)
	f.Add(data[:200])
	f.Add([]byte(magic + "case 0190a3b4-0000-7000-8000-000000000000\nkit k\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Open(b, k.pub, k.id)
		if err == nil {
			// Only a packet signed by the key can open; fuzzing cannot forge one.
			assert.Equal(t, len(testParts()), len(p.Parts))
		}
		// The streaming check agrees with Open on every input.
		_, m, _, serr := VerifyStream(opener(b), int64(len(b)), k.pub, k.id)
		assert.Equal(t, err == nil, serr == nil, "Open: %v, VerifyStream: %v", err, serr)
		if err == nil && serr == nil {
			assert.Equal(t, p.Manifest, m)
		}
		_, _ = ReadHeader(b)
	})
}

// BenchmarkVerifyStream compares the peak heap of Open and VerifyStream on a 64 MiB packet
// read from a file (as the town hall reads a finished upload): peak-MiB is the most the heap
// held above its level before the check.
func BenchmarkVerifyStream(b *testing.B) {
	k := newKeys(b)
	const size = 64 << 20
	scan := make([]byte, size)
	_, _ = rand.Read(scan)
	path := filepath.Join(b.TempDir(), "p.pkt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := k.sealer.Seal(f, Manifest{CaseID: uuid.NewString(), Service: "personalausweis"}, []Part{{Name: "scan-1.pdf", Kind: KindScan, Data: scan}}); err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	_ = f.Close()
	scan = nil
	open := func() (io.ReadCloser, error) { return os.Open(path) }
	for _, bb := range []struct {
		name string
		run  func() error
	}{
		{"Open", func() error {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			_, err = Open(data, k.pub, k.id)
			return err
		}},
		{"VerifyStream", func() error {
			_, _, _, err := VerifyStream(open, st.Size(), k.pub, k.id)
			return err
		}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(st.Size())
			var peak uint64
			for b.Loop() {
				p, err := peakHeap(bb.run)
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, p)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}

// peakHeap runs fn while sampling the live heap and returns the largest growth seen.
func peakHeap(fn func() error) (uint64, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var s runtime.MemStats
		for {
			runtime.ReadMemStats(&s)
			if s.HeapAlloc > base && s.HeapAlloc-base > peak.Load() {
				peak.Store(s.HeapAlloc - base)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	err := fn()
	close(stop)
	<-done
	return peak.Load(), err
}

func BenchmarkSeal(b *testing.B) {
	k := newKeys(b)
	parts := []Part{{Name: "scan-1.pdf", Kind: KindScan, Data: bytes.Repeat([]byte("x"), 2<<20)}}
	b.SetBytes(2 << 20)
	for b.Loop() {
		var buf bytes.Buffer
		_, err := k.sealer.Seal(&buf, Manifest{CaseID: uuid.NewString()}, parts)
		if err != nil {
			b.Fatal(err)
		}
	}
}
