package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// koffer runs the CLI as the real binary would (signals included).
func koffer() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newFactory(os.Stdin, os.Stdout, os.Stderr))
	cancel()
	os.Exit(int(code))
}

// TestMain lets the test binary act as the koffer binary: as "koffer" on the PATH of the
// testscript scripts, and with KOFFER_TEST_MAIN=1 for the crash test, which runs and SIGKILLs a
// real agent process without building one first.
func TestMain(m *testing.M) {
	if os.Getenv("KOFFER_TEST_MAIN") == "1" {
		koffer()
	}
	testscript.Main(m, map[string]func(){"koffer": koffer})
}
