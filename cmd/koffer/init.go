package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"koffer/agent/keys"
	"koffer/store"
	"koffer/sync/enroll"
)

type initOptions struct {
	f        *factory
	ctx      context.Context
	Enroll   string
	Training bool
	// KeyProtection is how the kit key is kept at rest: auto, tpm, systemd-creds or none.
	KeyProtection string
	TPM           string // TPM address for tpm (a device, or tcp:HOST:PORT for swtpm)
	// ProtectKey wraps the key of an initialised kit that keeps it in kit.json.
	ProtectKey bool
}

func newInitCmd(f *factory, runF func(*initOptions) error) *cobra.Command {
	opts := &initOptions{f: f}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the data directory and the kit identity",
		Long: `Create the data directory, its database and the kit identity.

With --enroll FILE the kit imports the enrollment bundle its town hall issued
(townhall kit add): CA certificate, town hall recipient, kit certificate and key.
With --training the kit makes a throwaway town hall of its own, for training and
demos: its packets can be opened with DIR/training-townhall.key.

The kit key (TLS identity, packet signatures) is sealed to the TPM 2.0 when the machine
has one, else kept as a systemd credential, else left in kit.json (koffer doctor warns);
--key-protection chooses explicitly. Training kits keep theirs in kit.json unless asked.
With --protect-key an initialised kit whose key lies in kit.json gets it wrapped in
place. See docs/security.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if n := btoi(opts.Enroll != "") + btoi(opts.Training) + btoi(opts.ProtectKey); n != 1 {
				return &flagError{errors.New("give exactly one of --enroll FILE, --training or --protect-key")}
			}
			switch opts.KeyProtection {
			case "auto", "tpm", "systemd-creds", "none":
			default:
				return &flagError{fmt.Errorf("--key-protection %q: want auto, tpm, systemd-creds or none", opts.KeyProtection)}
			}
			if runF != nil {
				return runF(opts)
			}
			return initRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Enroll, "enroll", "", "enrollment bundle from the town hall")
	cmd.Flags().BoolVar(&opts.Training, "training", false, "make a training kit with its own throwaway town hall")
	cmd.Flags().StringVar(&opts.KeyProtection, "key-protection", "auto", "kit key at rest: auto, tpm, systemd-creds or none")
	cmd.Flags().StringVar(&opts.TPM, "tpm", keys.DefaultTPM, "TPM for --key-protection tpm (device, or tcp:HOST:PORT)")
	cmd.Flags().BoolVar(&opts.ProtectKey, "protect-key", false, "wrap the key of this initialised kit, which lies in kit.json")
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func initRun(opts *initOptions) error {
	dir := opts.f.DataDir
	if opts.ProtectKey {
		prot := keyProtection(opts)
		if opts.KeyProtection == "auto" {
			prot = keys.AutoProtection()
		}
		if err := keys.ProtectKit(dir, prot); err != nil {
			return err
		}
		fmt.Fprintf(opts.f.Out, "kit key in %s wrapped (%s); old copies of %s (backups) still hold it\n", dir, protectionName(prot), keys.BundleFile)
		return nil
	}
	var kit *keys.Kit
	if opts.Training {
		k, err := newTrainingKit()
		if err != nil {
			return err
		}
		kit = k
	} else {
		data, err := os.ReadFile(opts.Enroll)
		if err != nil {
			return fmt.Errorf("read enrollment bundle: %w", err)
		}
		b, err := enroll.Parse(data)
		if err != nil {
			return err
		}
		kit = &keys.Kit{Bundle: b}
	}
	prot := keyProtection(opts)
	err := initDataDirProtected(opts.ctx, dir, kit, prot)
	if err != nil && opts.KeyProtection == "auto" && prot != (keys.Protection{}) {
		// auto means the best this machine offers; a credential store that refuses (not
		// root, no host key) leaves the key as before, and doctor says so.
		fmt.Fprintf(opts.f.ErrOut, "warning: kit key not wrapped (%v); it stays in %s\n", err, keys.BundleFile)
		prot = keys.Protection{}
		err = initDataDirProtected(opts.ctx, dir, kit, prot)
	}
	if err != nil {
		return err
	}
	mode := "enrolled with " + kit.Bundle.URL
	if kit.Training {
		mode = "training kit"
	}
	fmt.Fprintf(opts.f.Out, "kit %s initialised in %s (%s, kit key: %s)\n", kit.Bundle.KitID, dir, mode, protectionName(prot))
	return nil
}

func keyProtection(opts *initOptions) keys.Protection {
	switch opts.KeyProtection {
	case "tpm":
		return keys.Protection{TPM: opts.TPM}
	case "systemd-creds":
		return keys.Protection{Creds: true}
	case "auto":
		if !opts.Training {
			return keys.AutoProtection()
		}
	}
	return keys.Protection{}
}

func protectionName(p keys.Protection) string {
	switch {
	case p.TPM != "":
		return keys.ProtectTPM
	case p.Creds:
		return keys.ProtectCreds
	}
	return "in " + keys.BundleFile
}

func newTrainingKit() (*keys.Kit, error) {
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	b, id, err := enroll.NewTraining("training-" + hex.EncodeToString(r[:]))
	if err != nil {
		return nil, fmt.Errorf("training kit: %w", err)
	}
	return &keys.Kit{Bundle: b, Training: true, TownHall: id.String()}, nil
}

// initDataDir creates dir (0700), the database and the kit identity files, the kit key in
// kit.json (training kits made on the fly by koffer agent --training).
func initDataDir(ctx context.Context, dir string, kit *keys.Kit) error {
	return initDataDirProtected(ctx, dir, kit, keys.Protection{})
}

// initDataDirProtected is initDataDir with the kit key kept as prot says.
func initDataDirProtected(ctx context.Context, dir string, kit *keys.Kit, prot keys.Protection) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	return keys.SaveKitProtected(dir, kit, prot)
}
