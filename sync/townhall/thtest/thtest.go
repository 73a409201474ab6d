// Package thtest starts the real servers a town hall for many towns runs on, for tests: a
// PostgreSQL server from the Debian packages (initdb, postgres) and Versity's S3 gateway with
// its posix backend, each in a temporary directory on a loopback port, stopped when the test
// ends. A missing server is reported as an error wrapping ErrMissing, so the test can skip (or
// fail under KOFFER_REQUIRE_PEERS=1, through devices/peer).
package thtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
)

// ErrMissing means a server's programs are not installed here.
var ErrMissing = errors.New("not installed")

// PostgresBin is where Debian's postgresql-15 keeps the server programs.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Credentials of the test S3 server. They are also set as the AWS environment variables of this
// process, where townhall.Connect (and a child `townhall serve`) reads them.
const (
	S3Access = "koffer-test"
	S3Secret = "koffer-test-secret"
)

// Postgres starts a PostgreSQL server (fsync off: a test's data is thrown away) and returns
// the URL of its database "postgres" for the trusted user "koffer". As root, the server runs
// as the postgres user: PostgreSQL refuses to run as root.
func Postgres(t testing.TB) (string, error) {
	t.Helper()
	dsn, stop, err := StartPostgres()
	if stop != nil {
		t.Cleanup(stop)
	}
	return dsn, err
}

// StartPostgres is Postgres for a TestMain: stop ends the server and removes its files (it is
// also set when err is not nil, to clean up what was started).
func StartPostgres() (dsn string, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	dsn, err = startPostgres(func(f func()) { stops = append(stops, f) })
	return dsn, stop, err
}

func startPostgres(cleanup func(func())) (string, error) {
	bin := os.Getenv("KOFFER_PG_BIN")
	if bin == "" {
		bin = PostgresBin
	}
	initdb, pgServer := filepath.Join(bin, "initdb"), filepath.Join(bin, "postgres")
	if _, err := os.Stat(pgServer); err != nil {
		return "", fmt.Errorf("postgresql server in %s: %w", bin, ErrMissing)
	}
	dir, err := os.MkdirTemp("", "koffer-pg-")
	if err != nil {
		return "", err
	}
	cleanup(func() { _ = os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("postgres user: %w", ErrMissing)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", err
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "koffer", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	srv := exec.Command(pgServer, "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitListening(addr, 30*time.Second); err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	dsn := "postgres://koffer@" + addr + "/postgres?sslmode=disable"
	// Listening comes before accepting: wait until a session starts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, dsn)
		cancel()
		if err == nil {
			_ = c.Close(context.Background())
			return dsn, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("postgres: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// S3 is a running S3-compatible server with one empty bucket.
type S3 struct {
	Endpoint string // http://127.0.0.1:PORT
	Bucket   string
	Dir      string // the posix backend's directory
}

// Objects is the town hall's --objects URL for prefix in the bucket.
func (s S3) Objects(prefix string) string {
	return "s3://" + s.Bucket + "/" + prefix + "?endpoint=" + s.Endpoint
}

// Versitygw finds Versity's S3 gateway on PATH or in the Go bin directory.
func Versitygw() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw: %w", ErrMissing)
}

// StartS3 starts Versity's S3 gateway on a posix directory and creates a bucket in it.
func StartS3(t testing.TB) (S3, error) {
	t.Helper()
	s, stop, err := StartS3Server()
	if stop != nil {
		t.Cleanup(stop)
	}
	return s, err
}

// StartS3Server is StartS3 for a TestMain.
func StartS3Server() (s S3, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	s, err = startS3(func(f func()) { stops = append(stops, f) })
	return s, stop, err
}

func startS3(cleanup func(func())) (S3, error) {
	bin, err := Versitygw()
	if err != nil {
		return S3{}, err
	}
	dir, err := os.MkdirTemp("", "koffer-s3-")
	if err != nil {
		return S3{}, err
	}
	cleanup(func() { _ = os.RemoveAll(dir) })
	port, err := freePort()
	if err != nil {
		return S3{}, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "--access", S3Access, "--secret", S3Secret, "--port", addr, "posix", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return S3{}, fmt.Errorf("versitygw: %w", err)
	}
	cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := waitListening(addr, 30*time.Second); err != nil {
		return S3{}, fmt.Errorf("versitygw: %w", err)
	}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": S3Access, "AWS_SECRET_ACCESS_KEY": S3Secret, "AWS_REGION": "us-east-1"} {
		if err := os.Setenv(k, v); err != nil {
			return S3{}, err
		}
	}
	s := S3{Endpoint: "http://" + addr, Bucket: "koffer", Dir: dir}
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(S3Access, S3Secret, ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		return S3{}, fmt.Errorf("create bucket: %w", err)
	}
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v", addr, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CreateDatabase creates database name on the server of dsn and returns its URL: tests share
// one server and keep apart by database.
func CreateDatabase(dsn, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), name), nil
}
