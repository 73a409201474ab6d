package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd writes one man page per command, generated from the cobra tree so that pages and
// --help never disagree. Hidden: `make deb` uses it; SOURCE_DATE_EPOCH fixes the date.
func newManCmd(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages into DIR (for packaging)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			root.DisableAutoGenTag = true
			hdr := &doc.GenManHeader{Title: "KOFFER", Section: "1", Source: "koffer " + version(), Manual: "koffer"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			fmt.Fprintf(f.Out, "man pages written to %s\n", args[0])
			return nil
		},
	}
}
