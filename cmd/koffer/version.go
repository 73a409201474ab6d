package main

import (
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set by the linker for release builds (make build, make deb):
// -X main.buildVersion=1.2.3 -X main.buildCommit=abc -X main.buildDate=2026-12-02T05:00:00Z.
// Left empty, the toolchain's build info fills them.
var buildVersion, buildCommit, buildDate string

type versionOptions struct {
	f    *factory
	JSON bool
}

func newVersionCmd(f *factory, runF func(*versionOptions) error) *cobra.Command {
	opts := &versionOptions{f: f}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the koffer version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print version, commit and build date as JSON")
	return cmd
}

func versionRun(opts *versionOptions) error {
	bi := readBuild()
	if opts.JSON {
		enc := json.NewEncoder(opts.f.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(bi)
	}
	fmt.Fprintf(opts.f.Out, "koffer %s (commit %s, built %s)\n", bi.Version, bi.Commit, bi.Date)
	return nil
}

// buildInfo is what `koffer version --json` prints.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// readBuild combines the linker's values with the toolchain's build info (module version,
// vcs.revision, vcs.time); what neither knows is "unknown", the version "devel".
func readBuild() buildInfo {
	b := buildInfo{Version: buildVersion, Commit: buildCommit, Date: buildDate}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

// version is the version the agent reports (town hall, support bundle, test page).
func version() string { return readBuild().Version }
