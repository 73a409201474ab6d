package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"koffer/devices/inventory"
	"koffer/devices/profile"
)

type devicesOptions struct {
	f       *factory
	ctx     context.Context
	JSON    bool
	Profile string
	List    inventory.Lister // tests replace the USB bus
}

func newDevicesCmd(f *factory, runF func(*devicesOptions) error) *cobra.Command {
	opts := &devicesOptions{f: f}
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List attached USB devices and configured network devices against the kit profile",
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
	cmd.Flags().StringVar(&opts.Profile, "profile", "", "kit profile TOML (default "+profile.DefaultPath+" if present)")
	return cmd
}

func devicesRun(opts *devicesOptions) error {
	var prof *profile.Profile
	path := opts.Profile
	if path == "" {
		if p, err := profile.Load(profile.DefaultPath); err == nil {
			prof = p
		}
	} else {
		p, err := profile.Load(path)
		if err != nil {
			return err
		}
		prof = p
	}
	ctx, cancel := context.WithTimeout(opts.ctx, 15*time.Second)
	defer cancel()
	inv := inventory.Take(ctx, prof, inventory.Options{List: opts.List})
	if opts.JSON {
		enc := json.NewEncoder(opts.f.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(inv)
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
	return w.Flush()
}
