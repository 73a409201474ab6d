package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"koffer/agent"
	"koffer/agent/doctor"
	"koffer/agent/keys"
	"koffer/agent/logfile"
	"koffer/devices/inventory"
	"koffer/devices/profile"
)

type doctorOptions struct {
	f          *factory
	ctx        context.Context
	JSON       bool
	Bundle     string
	Profile    string
	ConfigFile string
	Timeout    time.Duration

	// Tests replace the hardware and the journal.
	Discover   doctor.Readers
	OpenReader doctor.ReaderOpener
	DiskWarn   uint64 // free-space threshold; zero means the default
	List       inventory.Lister
	Logs       func(ctx context.Context) ([]byte, error)
}

func newDoctorCmd(f *factory, runF func(*doctorOptions) error) *cobra.Command {
	opts := &doctorOptions{f: f}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the kit and say what to fix (exit 0 ok, 1 warn, 2 fail)",
		Long: `Run every check of the kit concurrently, each under its own deadline: disk,
database integrity, keys, client certificate, uplink and clock against the town
hall, queue, audit chain, fingerprint reader, and the printers and scanners of
the kit profile. Works with or without a running agent (the database is read
directly). --bundle writes a support archive without personal data or keys.

The whole run stays within about 3 s: a link that does not answer in time is
reported as slow with what was measured. Being offline (no DNS, no TCP, clock
not comparable) and an agent that is not running are warnings (exit 1); fail
(exit 2) is for what needs a technician.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return doctorRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&opts.Bundle, "bundle", "", "also write a support bundle (tar.gz) to this file")
	cmd.Flags().StringVar(&opts.Profile, "profile", "", "kit profile TOML (default: the profile key of --config, else "+profile.DefaultPath+" if present)")
	cmd.Flags().StringVar(&opts.ConfigFile, "config", "", "agent TOML configuration (its profile key; copied into the bundle)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", doctor.DefaultTimeout, "deadline of each check")
	return cmd
}

// kitProfilePath is the kit profile the agent reads: --profile when given, else the profile
// key of the agent's --config file, else "" (the default path, see profile.Resolve). Doctor,
// devices and the agent so look at the same file.
func kitProfilePath(flag, configFile string) (string, error) {
	if flag != "" || configFile == "" {
		return flag, nil
	}
	cfg, err := agent.LoadConfig(configFile)
	if err != nil {
		return "", err
	}
	return cfg.Profile, nil
}

// loadProfile loads the kit profile at path, or the default path when it exists. The check
// reports it.
func loadProfile(path string) (*profile.Profile, doctor.Check) {
	explicit := path != ""
	if !explicit {
		path = profile.DefaultPath
	}
	p, err := profile.Load(path)
	var res doctor.Result
	switch {
	case err == nil:
		res = doctor.Result{Status: doctor.OK, Value: fmt.Sprintf("%s: %d devices", path, len(p.Devices))}
	case !explicit && errors.Is(err, fs.ErrNotExist):
		res = doctor.Result{Status: doctor.Warn, Value: "no kit profile", Code: "profile.missing",
			HintDE: "Kein Kofferprofil vorhanden: die Geräte werden nicht geprüft. Bitte die Technik rufen.",
			HintEN: "No kit profile at " + profile.DefaultPath + ": printers and scanners are not checked."}
	default:
		p = nil
		res = doctor.Result{Status: doctor.Fail, Value: err.Error(), Code: "profile.invalid",
			HintDE: "Das Kofferprofil ist fehlerhaft. Bitte die Technik rufen.",
			HintEN: "The kit profile does not parse; fix the key or value named."}
	}
	return p, doctor.Func{CheckName: "profile", F: func(context.Context) doctor.Result { return res }}
}

func doctorRun(opts *doctorOptions) error {
	ctx := opts.ctx
	path, err := kitProfilePath(opts.Profile, opts.ConfigFile)
	if err != nil {
		return err
	}
	prof, profCheck := loadProfile(path)
	kit := doctor.ForKit(ctx, doctor.KitOptions{DataDir: opts.f.DataDir, Profile: prof, Discover: opts.Discover, OpenReader: opts.OpenReader,
		DiskWarnBelow: opts.DiskWarn, DiskFailBelow: min(opts.DiskWarn, 200<<20)})
	defer kit.Close()
	checks := append([]doctor.Check{profCheck}, kit.Checks...)
	// Every check, the uplink's too, shares one short deadline: a slow link is reported as
	// slow with what was measured, not waited for (the whole doctor stays within 3 s).
	rep := doctor.Run(ctx, checks, doctor.Options{Timeout: opts.Timeout})

	if opts.JSON {
		enc := json.NewEncoder(opts.f.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(opts, rep)
	}
	if opts.Bundle != "" {
		if err := writeSupportBundle(opts, prof, rep); err != nil {
			return err
		}
		if !opts.JSON {
			fmt.Fprintf(opts.f.Out, "support bundle: %s\n", opts.Bundle)
		}
	}
	if code := rep.ExitCode(); code != 0 {
		return &exitStatusError{code: exitCode(code)}
	}
	return nil
}

// printReport prints one aligned table of every check, then what to do for each that is not
// ok: hints inside the table would stretch or break its columns.
func printReport(opts *doctorOptions, rep doctor.Report) {
	w := tabwriter.NewWriter(opts.f.Out, 0, 4, 2, ' ', 0)
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Status, r.Check, r.Value, r.Duration.Round(time.Millisecond))
	}
	w.Flush()
	for _, r := range rep.Results {
		if r.Status == doctor.OK {
			continue
		}
		fmt.Fprintf(opts.f.Out, "\n%s %s [%s]\n  DE: %s\n  EN: %s\n", r.Status, r.Check, r.Code, r.HintDE, r.HintEN)
	}
	fmt.Fprintf(opts.f.Out, "\noverall: %s (%s)\n", rep.Status, rep.Duration.Round(time.Millisecond))
}

// noJournal reports journalctl output that holds no log lines.
func noJournal(out []byte) bool {
	s := strings.TrimSpace(string(out))
	return s == "" || s == "-- No entries --"
}

// journalLogs reads the agent's recent journal, if there is a journal.
func journalLogs(ctx context.Context) ([]byte, error) {
	path, err := exec.LookPath("journalctl")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, path, "-u", "koffer", "-n", "500", "--no-pager", "-o", "short-iso").Output()
}

func writeSupportBundle(opts *doctorOptions, prof *profile.Profile, rep doctor.Report) error {
	ctx := opts.ctx
	b := doctor.Bundle{Version: version(), Report: rep, Configs: map[string][]byte{}}
	b.Inventory = inventory.Take(ctx, prof, inventory.Options{List: opts.List})
	if k, err := keys.LoadKit(opts.f.DataDir); err == nil {
		b.Kit = k
	}
	for _, p := range []string{opts.ConfigFile, opts.Profile} {
		if p == "" {
			continue
		}
		if data, err := os.ReadFile(p); err == nil {
			b.Configs[filepath.Base(p)] = data
		}
	}
	logs := opts.Logs
	if logs == nil {
		logs = journalLogs
	}
	if l, err := logs(ctx); err == nil && !noJournal(l) {
		b.Logs = l
	} else if l, err := logfile.Recent(opts.f.DataDir, 500); err == nil {
		// No journald (or nothing in it): the agent's own recent log from the data directory.
		b.Logs = l
	}
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(opts.Bundle, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("support bundle: %w", err)
	}
	return nil
}
