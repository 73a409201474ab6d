package townhall_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"koffer/sync/townhall"
	"koffer/sync/townhall/thtest"
)

// onBackends runs a test against the embedded town hall (SQLite and files) and against the
// one for many towns (PostgreSQL and an S3 server, real ones: thtest).
func onBackends(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Run("embedded", func(t *testing.T) { test(t, start(t)) })
	t.Run("postgres+s3", func(t *testing.T) {
		o, objects := providerBackends(t)
		f := startWith(t, o)
		f.objects = objects
		test(t, f)
	})
}

// onBackendOptions is onBackends for a test that opens its own town hall (with its own clock).
func onBackendOptions(t *testing.T, test func(t *testing.T, o townhall.Options)) {
	t.Run("embedded", func(t *testing.T) { test(t, townhall.Options{}) })
	t.Run("postgres+s3", func(t *testing.T) { test(t, providerOptions(t)) })
}

// providerOptions starts PostgreSQL and an S3 server and connects a town hall's backends.
func providerOptions(t *testing.T) townhall.Options {
	o, _ := providerBackends(t)
	return o
}

// providerBackends is providerOptions, and the directory the S3 server keeps its objects in.
func providerBackends(t *testing.T) (townhall.Options, string) {
	t.Helper()
	dsn, s3 := thtest.Provider(t)
	b, err := townhall.Connect(t.Context(), townhall.ConnectOptions{DB: dsn, Objects: s3.Objects("th")})
	require.NoError(t, err)
	return townhall.Options{Metadata: b.Metadata, Packets: b.Packets, Uploads: b.Uploads}, s3.Dir
}

func TestConnectRefusesSecretsInURLs(t *testing.T) {
	tests := []struct {
		name string
		o    townhall.ConnectOptions
		want string
	}{
		{"password in db url", townhall.ConnectOptions{DB: "postgres://th:secret@db.example/th"}, "PGPASSWORD"},
		{"password as db parameter", townhall.ConnectOptions{DB: "postgres://th@db.example/th?password=secret"}, "PGPASSWORD"},
		{"not postgres", townhall.ConnectOptions{DB: "mysql://th@db.example/th"}, "postgres://"},
		{"credentials in objects url", townhall.ConnectOptions{Objects: "s3://key:secret@bucket/th"}, "AWS_ACCESS_KEY_ID"},
		{"not s3", townhall.ConnectOptions{Objects: "gs://bucket/th"}, "s3://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := townhall.Connect(t.Context(), tt.o)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}
