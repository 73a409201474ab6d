package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets the test binary act as the koffer binary (KOFFER_TEST_MAIN=1), so the crash
// tests can run and SIGKILL a real agent process without building one first.
func TestMain(m *testing.M) {
	if os.Getenv("KOFFER_TEST_MAIN") == "1" {
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], newFactory(os.Stdin, os.Stdout, os.Stderr))
		cancel()
		os.Exit(int(code))
	}
	os.Exit(m.Run())
}
