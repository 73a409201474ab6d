package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"koffer/agent"
	"koffer/agent/keys"
	"koffer/agent/logfile"
	"koffer/agent/web"
	"koffer/devices/escl"
	"koffer/devices/sim"
)

type agentOptions struct {
	f          *factory
	ctx        context.Context
	Listen     string
	Training   bool
	ConfigFile string
}

func newAgentCmd(f *factory, runF func(*agentOptions) error) *cobra.Command {
	opts := &agentOptions{f: f}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the koffer daemon",
		Long: `Run the daemon: the local API on DIR/koffer.sock (for the CLI) and, with
--listen, on a loopback address (for the UI). --training selects the simulated
devices; a data directory without a kit becomes a training kit on first start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return agentRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "", "loopback address for the UI, e.g. 127.0.0.1:8765")
	cmd.Flags().BoolVar(&opts.Training, "training", false, "use the simulated devices (training and demos)")
	cmd.Flags().StringVar(&opts.ConfigFile, "config", "", "TOML configuration file")
	return cmd
}

func agentRun(opts *agentOptions) error {
	var cfg agent.Config
	if opts.ConfigFile != "" {
		c, err := agent.LoadConfig(opts.ConfigFile)
		if err != nil {
			return err
		}
		cfg = c
	}
	if opts.Listen != "" {
		cfg.Listen = opts.Listen
	}
	training := opts.Training || cfg.Training
	level, err := cfg.Level()
	if err != nil {
		return err
	}
	hopts := &slog.HandlerOptions{Level: level}
	newLogger := func(w io.Writer) *slog.Logger {
		if cfg.LogFormat == "json" {
			return slog.New(slog.NewJSONHandler(w, hopts))
		}
		return slog.New(slog.NewTextHandler(w, hopts))
	}
	log := newLogger(opts.f.ErrOut)

	dir := opts.f.DataDir
	if _, err := keys.LoadKit(dir); errors.Is(err, keys.ErrNotInitialised) && training {
		kit, err := newTrainingKit()
		if err != nil {
			return err
		}
		if err := initDataDir(opts.ctx, dir, kit); err != nil {
			return err
		}
		log.Info("trainingKitCreated", "subsystem", "cli", "kitId", kit.Bundle.KitID)
	}
	// The agent's own recent log, for support bundles where there is no journald.
	if lf, err := logfile.Open(dir); err == nil {
		defer lf.Close()
		log = newLogger(io.MultiWriter(opts.f.ErrOut, lf))
	}
	// Device selection: training is the only switch to devices/sim.
	// The caseworker UI on --listen: the handler is built once the agent exists (Serve starts
	// listening only after that).
	var ui *web.Server
	a, err := agent.New(opts.ctx, agent.Options{
		DataDir: dir, Config: cfg, Logger: log, Version: version(), Training: training,
		UI: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ui.ServeHTTP(w, r) }),
	})
	if err != nil {
		return err
	}
	dev := agent.WebDevices{Training: training}
	scannerURL := cfg.Scanner
	switch {
	case training:
		dev.Reader = sim.NewReader(sim.ReaderOptions{Delay: 300 * time.Millisecond})
		dev.Printer = sim.NewPrinter()
		sc, err := sim.StartScanner(sim.ScannerOptions{})
		if err != nil {
			return err
		}
		defer sc.Close(context.WithoutCancel(opts.ctx))
		scannerURL = sc.URL()
	case cfg.Printer != "":
		dev.Printer = perJobPrinter{uri: cfg.Printer}
	}
	switch {
	case training:
		c, err := escl.New(scannerURL, escl.Options{Logger: log.With("subsystem", "escl")})
		if err != nil {
			return err
		}
		dev.Scanner = agent.ESCL{Client: c}
	case cfg.Scanner != "":
		if cfg.Scanner != "usb" {
			if _, err := escl.New(cfg.Scanner, escl.Options{}); err != nil {
				return fmt.Errorf("config scanner: %w", err)
			}
		}
		dev.Scanner = perJobScanner{uri: cfg.Scanner, log: log.With("subsystem", "escl")}
	}
	if ui, err = web.New(web.Options{Backend: a.WebBackend(dev), Logger: log, IdleLock: cfg.IdleLock}); err != nil {
		return err
	}
	err = a.Serve(opts.ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
