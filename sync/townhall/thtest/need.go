package thtest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
)

// Provider starts PostgreSQL and an S3 server for a town hall of a provider for many towns:
// its --db URL, and the S3 server for --objects. A missing server skips the test, or fails it
// under KOFFER_REQUIRE_PEERS=1 (devices/peer).
func Provider(t testing.TB) (dsn string, s3 S3) {
	t.Helper()
	dsn = NeedPostgres(t)
	s3, err := StartS3(t)
	if errors.Is(err, ErrMissing) {
		peer.Missing(t, err.Error())
	}
	require.NoError(t, err)
	return dsn, s3
}

// NeedPostgres is Postgres for a test that cannot go on without it: a missing server skips
// the test, or fails it under KOFFER_REQUIRE_PEERS=1.
func NeedPostgres(t testing.TB) string {
	t.Helper()
	dsn, err := Postgres(t)
	if errors.Is(err, ErrMissing) {
		peer.Missing(t, err.Error())
	}
	require.NoError(t, err)
	return dsn
}
