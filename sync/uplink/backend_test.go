package uplink_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"koffer/devices/peer"
	"koffer/sync/townhall"
	"koffer/sync/townhall/thtest"
)

// The fault suite runs against the embedded town hall (SQLite, files) and, with
// KOFFER_TOWNHALL_BACKEND=postgres+s3, against one on PostgreSQL and an S3 server started once
// for the whole run (each test in its own database and bucket prefix).
// TestFaultSuiteOnPostgresS3 runs the suite that way in a child process, so `go test` covers
// both backends.
const backendEnv = "KOFFER_TOWNHALL_BACKEND"

var provider struct {
	dsn string
	s3  thtest.S3
	n   atomic.Int64
}

func TestMain(m *testing.M) {
	if os.Getenv(backendEnv) != "postgres+s3" {
		os.Exit(m.Run())
	}
	dsn, stopPG, err := thtest.StartPostgres()
	if err != nil {
		stopPG()
		fmt.Fprintln(os.Stderr, "postgres:", err)
		os.Exit(2)
	}
	s3, stopS3, err := thtest.StartS3Server()
	if err != nil {
		stopS3()
		stopPG()
		fmt.Fprintln(os.Stderr, "s3:", err)
		os.Exit(2)
	}
	provider.dsn, provider.s3 = dsn, s3
	code := m.Run()
	stopS3()
	stopPG()
	os.Exit(code)
}

// townhallBackend is where an env's town hall keeps its state: zero means embedded.
type townhallBackend struct {
	db, objects string
}

func newBackend(t testing.TB) townhallBackend {
	t.Helper()
	if provider.dsn == "" {
		return townhallBackend{}
	}
	n := provider.n.Add(1)
	db, err := thtest.CreateDatabase(provider.dsn, fmt.Sprintf("env%d", n))
	require.NoError(t, err)
	return townhallBackend{db: db, objects: provider.s3.Objects(fmt.Sprintf("env%d", n))}
}

// options adds the backends to o (connecting anew: every Open is a fresh process's).
func (b townhallBackend) options(t testing.TB, o townhall.Options) townhall.Options {
	t.Helper()
	if b.db == "" {
		return o
	}
	c, err := townhall.Connect(context.Background(), townhall.ConnectOptions{DB: b.db, Objects: b.objects, LockLease: 2 * time.Second})
	require.NoError(t, err)
	o.Metadata, o.Packets, o.Uploads = c.Metadata, c.Packets, c.Uploads
	return o
}

// faultSuite is the suite that runs on both backends: every fault test. The benchmarks measure
// the link and stay on the embedded town hall.
var faultSuite = []string{
	"TestShapedLink", "TestLinkFaults", "TestTownhallMisbehaves", "TestWrongCA", "TestFinalRefusalIsParked",
	"TestReceiptLostBeforeDeliver", "TestUnreachableDoesNotSpin", "TestKickWakesAtOnce", "TestVisitPacksComeDown",
	"TestAuditGoesUpInBatches", "TestStoppedAtRandomPoints", "TestMissingPacketIsParked", "TestSlowLinkIsNotAStall",
	"TestUnknownKitIsParked",
}

func TestFaultSuiteOnPostgresS3(t *testing.T) {
	if os.Getenv(backendEnv) != "" {
		t.Skip("this is the child run")
	}
	if _, err := os.Stat(thtest.PostgresBin + "/postgres"); err != nil && os.Getenv("KOFFER_PG_BIN") == "" {
		peer.Missing(t, "postgresql server not installed")
	}
	if _, err := thtest.Versitygw(); errors.Is(err, thtest.ErrMissing) {
		peer.Missing(t, err.Error())
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^("+strings.Join(faultSuite, "|")+")$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), backendEnv+"=postgres+s3")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Log(string(out))
	}
	require.NoError(t, err, "the fault suite on PostgreSQL and S3")
	for _, name := range faultSuite {
		require.Contains(t, string(out), "--- PASS: "+name+" ", "ran on PostgreSQL and S3")
	}
}
