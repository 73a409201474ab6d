package visit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
	"koffer/sync/receipt"
)

func example(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("../../testdata/visits/2026-11-24.json")
	require.NoError(t, err)
	return data
}

func TestParseExample(t *testing.T) {
	p, err := Parse(example(t))
	require.NoError(t, err)
	assert.Equal(t, "2026-11-24", p.Date)
	require.Len(t, p.Appointments, 2)
	a := p.Appointment("termin-1")
	require.NotNil(t, a)
	require.NotNil(t, a.Register)
	assert.Equal(t, "Beispielmann", a.Register.FormerNames)
	assert.Equal(t, "alleinige Wohnung", a.Register.Residences[0].Dwelling)
	assert.Nil(t, p.Appointment("nope"))
}

func TestParseRejects(t *testing.T) {
	good := string(example(t))
	tests := []struct {
		name, from, to, want string
	}{
		{name: "unknown field", from: `"version": 1,`, to: `"version": 1, "extra": 1,`, want: "unknown field"},
		{name: "bad date", from: `"date": "2026-11-24"`, to: `"date": "24.11.2026"`, want: "date"},
		{name: "bad time", from: `"time": "09:30"`, to: `"time": "9h30"`, want: "time"},
		{name: "unknown service", from: `["personalausweis"]`, to: `["reisepass"]`, want: "unknown service"},
		{name: "repeated id", from: `"id": "termin-2"`, to: `"id": "termin-1"`, want: "repeated"},
		{name: "melde without extract", from: `"services": ["personalausweis"]`, to: `"services": ["meldebescheinigung"]`, want: "register_extract"},
		{name: "bad dwelling", from: `"dwelling": "alleinige Wohnung"`, to: `"dwelling": "Villa"`, want: "dwelling"},
		{name: "trailing data", from: "  ]\n}\n", to: "  ]\n}\n{}", want: "after the pack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Contains(t, good, tt.from)
			_, err := Parse([]byte(strings.Replace(good, tt.from, tt.to, 1)))
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// signerOf makes a key certified by ca under the receipt name with the given usages.
func signerOf(t testing.TB, ca *enroll.CA, eku []asn1.ObjectIdentifier, ext []x509.ExtKeyUsage) *receipt.Signer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: receipt.SignerName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: eku, ExtKeyUsage: ext,
	}, ca.Cert, pub, ca.Key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &receipt.Signer{Key: key, Cert: cert}
}

func ageSeal(t testing.TB, to age.Recipient, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, to)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// TestSealOpen: a pack signed by the town hall's receipt key for this kit and sealed to the
// kit's visit key opens; anything else is refused with ErrUnsigned, or does not decrypt.
func TestSealOpen(t *testing.T) {
	ca, err := enroll.NewCA("town hall", now)
	require.NoError(t, err)
	other, err := enroll.NewCA("other", now)
	require.NoError(t, err)
	good, err := receipt.NewSigner(ca.Cert, ca.Key, now)
	require.NoError(t, err)
	ident, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	rcpt := ident.Recipient()

	sealed, p, err := Seal(example(t), "kit-1", good, rcpt)
	require.NoError(t, err)
	assert.Equal(t, "2026-11-24", p.Date)
	assert.NotContains(t, string(sealed), "Fiktiva")
	got, raw, err := Open(sealed, "kit-1", ident, ca.Cert, now)
	require.NoError(t, err)
	assert.Len(t, got.Appointments, 2)
	assert.Equal(t, example(t), raw)

	signedAs := func(s *receipt.Signer, domain string, payload []byte) []byte {
		env, err := s.SignPayload(domain, payload)
		require.NoError(t, err)
		return ageSeal(t, rcpt, env)
	}
	payload := func(kit string) []byte {
		b, err := json.Marshal(signedPack{Version: Version, KitID: kit, Pack: example(t)})
		require.NoError(t, err)
		return b
	}
	otherKit, _, err := Seal(example(t), "kit-2", good, rcpt)
	require.NoError(t, err)
	kitCert := signerOf(t, ca, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	otherCA, err := receipt.NewSigner(other.Cert, other.Key, now)
	require.NoError(t, err)

	refused := []struct {
		name   string
		sealed []byte
	}{
		{name: "unsigned pack", sealed: ageSeal(t, rcpt, example(t))},
		{name: "signed for another kit", sealed: otherKit},
		{name: "signed by a kit certificate", sealed: signedAs(kitCert, Domain, payload("kit-1"))},
		{name: "signed under another CA", sealed: signedAs(otherCA, Domain, payload("kit-1"))},
		{name: "a receipt signature", sealed: signedAs(good, receipt.Domain, payload("kit-1"))},
		{name: "payload not a signed pack", sealed: signedAs(good, Domain, example(t))},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			p, raw, err := Open(tt.sealed, "kit-1", ident, ca.Cert, now)
			assert.ErrorIs(t, err, ErrUnsigned)
			assert.Nil(t, p)
			assert.Nil(t, raw)
		})
	}

	t.Run("another identity", func(t *testing.T) {
		stranger, err := age.GenerateX25519Identity()
		require.NoError(t, err)
		_, _, err = Open(sealed, "kit-1", stranger, ca.Cert, now)
		assert.Error(t, err)
	})
	t.Run("invalid pack is not sealed", func(t *testing.T) {
		_, _, err := Seal([]byte(`{"version":1}`), "kit-1", good, rcpt)
		assert.ErrorContains(t, err, "visit pack")
	})
}

// FuzzOpen: whatever a town hall (or an attacker who knows the recipient) seals, Open never
// panics and accepts nothing unsigned.
func FuzzOpen(f *testing.F) {
	ca, err := enroll.NewCA("town hall", now)
	require.NoError(f, err)
	ident, err := age.GenerateX25519Identity()
	require.NoError(f, err)
	f.Add(example(f))
	f.Add([]byte(`{"payload":"e30=","cert":"","sig":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, err := Open(ageSeal(t, ident.Recipient(), data), "kit-1", ident, ca.Cert, now)
		assert.Error(t, err)
	})
}

func FuzzParse(f *testing.F) {
	f.Add(example(f))
	f.Add([]byte(`{"version":1,"date":"2026-01-01","appointments":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err == nil {
			assert.NoError(t, p.validate(), "what parses is valid")
		}
	})
}
