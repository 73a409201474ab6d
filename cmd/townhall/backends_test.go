package main

import (
	"testing"

	"koffer/sync/townhall/thtest"
)

// onBackends runs a test with the embedded town hall (SQLite and files in --data) and with
// --db and --objects naming a real PostgreSQL and a real S3 server (thtest), as a provider
// for many towns runs it.
func onBackends(t *testing.T, test func(t *testing.T, f *factory)) {
	t.Run("embedded", func(t *testing.T) {
		f, _, _ := testFactory(t)
		test(t, f)
	})
	t.Run("postgres+s3", func(t *testing.T) {
		f, _, _ := testFactory(t)
		dsn, s3 := thtest.Provider(t)
		f.DB, f.Objects = dsn, s3.Objects("th")
		// Commands run through run() read --db and --objects from the environment.
		env := map[string]string{"TOWNHALL_DB": f.DB, "TOWNHALL_OBJECTS": f.Objects}
		getenv := f.Getenv
		f.Getenv = func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return getenv(k)
		}
		test(t, f)
	})
}
