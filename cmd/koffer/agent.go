package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/spf13/cobra"

	"koffer/agent"
	"koffer/agent/keys"
	"koffer/agent/logfile"
	"koffer/agent/web"
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
--listen, on a loopback address (for the UI). The printer, scanner and fingerprint
reader are those of the kit profile (config key profile, default
/etc/koffer/kit.toml). --training selects the simulated devices instead; a data
directory without a kit becomes a training kit on first start.`,
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
	created := false
	if _, err := keys.LoadKit(dir); errors.Is(err, keys.ErrNotInitialised) && training {
		created = true
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
	// The caseworker UI on --listen: the handler is built once the agent exists (Serve starts
	// listening only after that). The agent builds the devices from the kit profile (or the
	// simulators with --training): cmd only hands them to the UI.
	var ui *web.Server
	a, err := agent.New(opts.ctx, agent.Options{
		DataDir: dir, Config: cfg, Logger: log, Version: version(), Training: training,
		UI: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ui.ServeHTTP(w, r) }),
	})
	if err != nil {
		return err
	}
	if created {
		if err := a.SetUpTrainingDemo(opts.ctx); err != nil {
			_ = a.Close()
			return err
		}
	}
	if ui, err = web.New(web.Options{Backend: a.WebBackend(a.Devices()), Logger: log, IdleLock: cfg.IdleLock,
		DemoLogin: a.DemoLogin(opts.ctx)}); err != nil {
		_ = a.Close()
		return err
	}
	err = a.Serve(opts.ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
