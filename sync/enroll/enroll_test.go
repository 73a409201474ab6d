package enroll

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssueParseRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	ca, err := NewCA("Rathaus Musterstadt", time.Now())
	require.NoError(t, err)
	b, err := ca.Issue("kit-1", "https://townhall.example:8443", id.Recipient().String(), time.Now())
	require.NoError(t, err)

	data, err := b.Marshal()
	require.NoError(t, err)
	got, err := Parse(data)
	require.NoError(t, err)
	assert.Equal(t, b, got)

	key, err := got.SigningKey()
	require.NoError(t, err)
	pub, err := got.PublicKey()
	require.NoError(t, err)
	assert.True(t, pub.Equal(key.Public()))
	msg := []byte("x")
	assert.True(t, ed25519.Verify(pub, msg, ed25519.Sign(key, msg)))

	cfg, err := got.ClientTLS()
	require.NoError(t, err)
	assert.Len(t, cfg.Certificates, 1)
	exp, err := got.CertNotAfter()
	require.NoError(t, err)
	assert.True(t, exp.After(time.Now().AddDate(1, 0, 0)))
}

// The letterhead travels in the bundle under its documented keys; a training bundle carries the
// marked training values.
func TestLetterheadInBundle(t *testing.T) {
	b, _, err := NewTraining("kit-1")
	require.NoError(t, err)
	assert.Equal(t, TrainingLetterhead, b.Letterhead)
	assert.Contains(t, b.AuthorityName, "Schulung")

	b.Letterhead = Letterhead{AuthorityName: "Stadt Müßingen – Bürgeramt", AuthorityAddress: "Marktplatz 1, 12345 Müßingen", Place: "Müßingen"}
	data, err := b.Marshal()
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(data, &raw))
	assert.Equal(t, "Müßingen", raw["place"])
	assert.Equal(t, "Stadt Müßingen – Bürgeramt", raw["authority_name"])
	got, err := Parse(data)
	require.NoError(t, err)
	assert.Equal(t, b.Letterhead, got.Letterhead)

	// Optional: a bundle without one (as written before) still parses, with none.
	b.Letterhead = Letterhead{}
	data, err = b.Marshal()
	require.NoError(t, err)
	assert.NotContains(t, string(data), "place")
	got, err = Parse(data)
	require.NoError(t, err)
	assert.Zero(t, got.Letterhead)
}

func TestParseRejects(t *testing.T) {
	good, _, err := NewTraining("kit-1")
	require.NoError(t, err)
	other, _, err := NewTraining("kit-2")
	require.NoError(t, err)

	tests := []struct {
		name   string
		mutate func(b *Bundle)
		want   string
	}{
		{name: "wrong version", mutate: func(b *Bundle) { b.Version = 9 }, want: "version"},
		{name: "no kit id", mutate: func(b *Bundle) { b.KitID = "" }, want: "kit_id"},
		{name: "http url", mutate: func(b *Bundle) { b.URL = "http://x" }, want: "https"},
		{name: "bad recipient", mutate: func(b *Bundle) { b.Recipient = "age1nope" }, want: "recipient"},
		{name: "foreign CA", mutate: func(b *Bundle) { b.CAPEM = other.CAPEM }, want: "not issued by"},
		{name: "key of another kit", mutate: func(b *Bundle) { b.KeyPEM = other.KeyPEM }, want: "does not carry"},
		{name: "cert for another kit", mutate: func(b *Bundle) { b.KitID = "kit-9" }, want: "is for"},
		{name: "garbage key", mutate: func(b *Bundle) { b.KeyPEM = "x" }, want: "key_pem"},
		{name: "letterhead with newline", mutate: func(b *Bundle) { b.Place = "Muster\nstadt" }, want: "place"},
		{name: "letterhead too long", mutate: func(b *Bundle) { b.AuthorityName = strings.Repeat("x", 121) }, want: "authority_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := *good
			tt.mutate(&b)
			data, err := json.Marshal(b)
			require.NoError(t, err)
			_, err = Parse(data)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	_, err = Parse([]byte("{"))
	assert.Error(t, err)
}

func FuzzParse(f *testing.F) {
	b, _, err := NewTraining("kit-1")
	require.NoError(f, err)
	data, err := b.Marshal()
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse(data)
		if err == nil {
			_, err := b.ClientTLS()
			assert.NoError(t, err, "a bundle that parses must give a TLS config")
		}
	})
}
