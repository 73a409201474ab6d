package receipt_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/sync/enroll"
	"koffer/sync/receipt"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// signer makes a receipt key certified by ca under cn, with the receipt usage.
func signer(t testing.TB, ca *enroll.CA, cn string) *receipt.Signer {
	t.Helper()
	return certified(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: cn},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{receipt.ReceiptSigning}})
}

func certified(t testing.TB, ca *enroll.CA, tmpl *x509.Certificate) *receipt.Signer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tmpl.SerialNumber = big.NewInt(7)
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.AddDate(1, 0, 0)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &receipt.Signer{Key: key, Cert: cert}
}

func body() receipt.Body {
	return receipt.Body{CaseID: "0193a0b4-0000-7000-8000-000000000001", KitID: "kit-1", Number: "2026-000001", ReceivedAt: now, SHA256: "ab"}
}

func TestVerify(t *testing.T) {
	ca, err := enroll.NewCA("town hall", now)
	require.NoError(t, err)
	other, err := enroll.NewCA("other", now)
	require.NoError(t, err)
	good := signer(t, ca, receipt.SignerName)
	raw, err := good.Sign(body())
	require.NoError(t, err)

	tamper := func(f func(m map[string]any)) []byte {
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		f(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b
	}
	otherPayload, err := json.Marshal(receipt.Body{Version: 1, CaseID: "x", Number: "9", ReceivedAt: now})
	require.NoError(t, err)
	foreign, err := signer(t, other, receipt.SignerName).Sign(body())
	require.NoError(t, err)
	wrongName, err := signer(t, ca, "someone else").Sign(body())
	require.NoError(t, err)

	tests := []struct {
		name    string
		raw     []byte
		at      time.Time
		wantErr error
	}{
		{name: "good", raw: raw, at: now},
		{name: "payload swapped", raw: tamper(func(m map[string]any) { m["payload"] = otherPayload }), at: now, wantErr: receipt.ErrSignature},
		{name: "signed by another CA", raw: foreign, at: now, wantErr: receipt.ErrSignature},
		{name: "key not a receipt key", raw: wrongName, at: now, wantErr: receipt.ErrSignature},
		{name: "receipt key expired", raw: raw, at: now.AddDate(2, 0, 0), wantErr: receipt.ErrSignature},
		{name: "garbage", raw: []byte("<html>502</html>"), at: now, wantErr: receipt.ErrMalformed},
		{name: "no cert", raw: tamper(func(m map[string]any) { delete(m, "cert") }), at: now, wantErr: receipt.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := receipt.Verify(tt.raw, ca.Cert, tt.at)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			want := body()
			want.Version = receipt.Version
			assert.Equal(t, want, b)
		})
	}
}

// TestForgedReceipt: a certificate the town hall's CA issued for a kit, even one named like the
// receipt key, cannot sign receipts a kit accepts; and no kit can be enrolled under that name.
func TestForgedReceipt(t *testing.T) {
	ca, err := enroll.NewCA("town hall", now)
	require.NoError(t, err)

	_, err = ca.Issue(receipt.SignerName, "", "", now)
	require.ErrorContains(t, err, "kit name", "a kit named like the receipt key must not be enrolled")

	// What an older town hall could have issued: a client certificate with the receipt key's name.
	kitCert := certified(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: receipt.SignerName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	forged, err := kitCert.Sign(body())
	require.NoError(t, err)
	_, err = receipt.Verify(forged, ca.Cert, now)
	assert.ErrorIs(t, err, receipt.ErrSignature)

	// Both usages at once is no receipt key either.
	both := certified(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: receipt.SignerName},
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{receipt.ReceiptSigning}})
	forged, err = both.Sign(body())
	require.NoError(t, err)
	_, err = receipt.Verify(forged, ca.Cert, now)
	assert.ErrorIs(t, err, receipt.ErrSignature)

	good, err := signer(t, ca, receipt.SignerName).Sign(body())
	require.NoError(t, err)
	_, err = receipt.Verify(good, ca.Cert, now)
	assert.NoError(t, err)
}

func TestFinal(t *testing.T) {
	assert.True(t, receipt.Final(receipt.CodeBadSignature))
	assert.True(t, receipt.Final(receipt.CodeUnknownKit))
	assert.False(t, receipt.Final(receipt.CodeUploadIncomplete))
	assert.False(t, receipt.Final(""))
	assert.False(t, receipt.Final("something new"))
}

func FuzzVerify(f *testing.F) {
	ca, err := enroll.NewCA("town hall", now)
	require.NoError(f, err)
	raw, err := signer(f, ca, receipt.SignerName).Sign(body())
	require.NoError(f, err)
	f.Add(raw)
	f.Add([]byte(`{"payload":"","cert":"","sig":""}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := receipt.Verify(data, ca.Cert, now)
		if err == nil && (b.CaseID == "" || b.Number == "") {
			t.Fatalf("accepted a receipt without case or number: %+v", b)
		}
	})
}

// TestSignPayloadDomains: a signature under one domain never verifies under another, and a
// receipt is still the domain string, NUL and the payload signed (receipts stay compatible).
func TestSignPayloadDomains(t *testing.T) {
	ca, err := enroll.NewCA("town hall", now)
	require.NoError(t, err)
	s, err := receipt.NewSigner(ca.Cert, ca.Key, now)
	require.NoError(t, err)
	assert.True(t, receipt.Certified(s.Cert))

	raw, err := s.SignPayload("koffer test v1", []byte(`{"a":1}`))
	require.NoError(t, err)
	got, err := receipt.VerifyPayload(raw, "koffer test v1", ca.Cert, now)
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(got))
	_, err = receipt.VerifyPayload(raw, receipt.Domain, ca.Cert, now)
	assert.ErrorIs(t, err, receipt.ErrSignature)
	_, err = s.SignPayload("bad\x00domain", nil)
	assert.Error(t, err)

	rec, err := s.Sign(body())
	require.NoError(t, err)
	var env struct{ Payload, Sig []byte }
	require.NoError(t, json.Unmarshal(rec, &env))
	assert.True(t, ed25519.Verify(s.Key.Public().(ed25519.PublicKey), append([]byte("koffer receipt signature v1\x00"), env.Payload...), env.Sig))
}
