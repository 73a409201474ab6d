package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"koffer/devices"
	"koffer/devices/inventory"
	"koffer/devices/ipp"
	"koffer/devices/profile"
)

type devicesOptions struct {
	f          *factory
	ctx        context.Context
	JSON       bool
	Profile    string
	ConfigFile string
	List       inventory.Lister // tests replace the USB bus
	// Printers asks every IPP-over-USB printer and the profile's network printers for their
	// state (default printerStatuses of print.go).
	Printers func(ctx context.Context, configured []string) []ipp.Status
}

// devicesReport is `koffer devices --json`.
type devicesReport struct {
	inventory.Inventory
	Printers []printerState `json:"printers"`
}

type printerState struct {
	URI     string   `json:"uri"`
	Model   string   `json:"model,omitempty"`
	State   string   `json:"state,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	Problem string   `json:"problem,omitempty"`
	Hint    string   `json:"hint,omitempty"`
}

func toPrinterStates(sts []ipp.Status) []printerState {
	out := []printerState{}
	for _, s := range sts {
		ps := printerState{URI: s.URI}
		if s.Description != nil {
			ps.Model, ps.State, ps.Reasons = s.Description.MakeAndModel, s.Description.State.String(), s.Description.StateReasons
		}
		if s.Problem != nil {
			ps.Problem, ps.Hint = s.Problem.Error(), devices.Hint(s.Problem)
		}
		out = append(out, ps)
	}
	return out
}

func newDevicesCmd(f *factory, runF func(*devicesOptions) error) *cobra.Command {
	opts := &devicesOptions{f: f}
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List attached USB devices and configured network devices against the kit profile (exit 0 ok, 1 warn, 2 missing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return devicesRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&opts.Profile, "profile", "", "kit profile TOML (default: the profile key of --config, else "+profile.DefaultPath+" if present)")
	cmd.Flags().StringVar(&opts.ConfigFile, "config", "", "agent TOML configuration whose profile key names the kit profile")
	return cmd
}

func devicesRun(opts *devicesOptions) error {
	path, err := kitProfilePath(opts.Profile, opts.ConfigFile)
	if err != nil {
		return err
	}
	prof, err := profile.Resolve(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(opts.ctx, 15*time.Second)
	defer cancel()
	inv := inventory.Take(ctx, prof, inventory.Options{List: opts.List})
	printers := opts.Printers
	if printers == nil {
		printers = func(ctx context.Context, configured []string) []ipp.Status {
			return printerStatuses(ctx, configured, true)
		}
	}
	var uris []string
	for _, d := range prof.Of(devices.Printer) {
		if d.Network() {
			uris = append(uris, d.URI)
		}
	}
	rep := devicesReport{Inventory: inv, Printers: toPrinterStates(printers(ctx, uris))}
	if opts.JSON {
		enc := json.NewEncoder(opts.f.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
		return devicesExit(rep, prof)
	}
	w := tabwriter.NewWriter(opts.f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USB\tCLASS\tSERIAL\tKOFFER")
	for _, d := range inv.USB {
		fmt.Fprintf(w, "%s (bus %d addr %d)\t%s\t%s\t%s\n", d.ID, d.Bus, d.Address, d.Class, d.Serial, d.Koffer)
	}
	if inv.USBError != "" {
		fmt.Fprintf(w, "usb error: %s\n", inv.USBError)
	}
	if len(inv.Network) > 0 {
		fmt.Fprintln(w, "\nNETWORK\tKIND\tREACHABLE\t")
		for _, d := range inv.Network {
			fmt.Fprintf(w, "%s\t%s\t%t\t%s\n", d.URI, d.Kind, d.Reachable, d.Problem)
		}
	}
	if len(rep.Printers) > 0 {
		fmt.Fprintln(w, "\nPRINTER\tMODEL\tSTATE\tPROBLEM")
		for _, p := range rep.Printers {
			fmt.Fprintf(w, "%s\t%s\t%s %s\t%s\n", p.URI, p.Model, p.State, strings.Join(p.Reasons, ","), p.Problem)
		}
	}
	if prof == nil {
		fmt.Fprintln(w, "\n(no kit profile: nothing expected)")
	} else {
		fmt.Fprintln(w, "\nKIND\tPROFILE\t\t")
		for _, k := range inv.Kinds {
			state := "satisfied"
			if !k.Satisfied {
				state = "MISSING " + strings.Join(k.Missing, ", ")
			}
			fmt.Fprintf(w, "%s\t%d/%d\t%s\t\n", k.Kind, k.Found, k.Expected, state)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return devicesExit(rep, prof)
}

// devicesExit gives koffer devices doctor's exit codes: 2 when a device the kit profile
// expects is missing or USB cannot be read, 1 when a printer reports a problem or there is no
// profile to check against, 0 when everything expected is there.
func devicesExit(rep devicesReport, prof *profile.Profile) error {
	code := exitOK
	if prof == nil {
		code = 1
	}
	for _, p := range rep.Printers {
		if p.Problem != "" {
			code = max(code, 1)
		}
	}
	for _, k := range rep.Inventory.Kinds {
		if !k.Satisfied {
			code = 2
		}
	}
	if rep.Inventory.USBError != "" {
		code = 2
	}
	if code == exitOK {
		return nil
	}
	return &exitStatusError{code: code}
}
