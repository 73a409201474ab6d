// Command townhall is the reference town hall backend of koffer: it enrolls kits, receives
// their packets over tus and mutual TLS, answers signed receipts, and hands out visit packs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Signals are handled here only: the first cancels ctx (graceful shutdown), a second one
	// aborts the graceful path.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "townhall: second signal, exiting now")
		os.Exit(int(exitCancel))
	}()
	os.Exit(int(run(ctx, os.Args[1:], newFactory(os.Stdin, os.Stdout, os.Stderr))))
}
