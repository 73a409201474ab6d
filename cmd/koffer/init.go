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
demos: its packets can be opened with DIR/training-townhall.key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if (opts.Enroll == "") == !opts.Training {
				return &flagError{errors.New("give exactly one of --enroll FILE or --training")}
			}
			if runF != nil {
				return runF(opts)
			}
			return initRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Enroll, "enroll", "", "enrollment bundle from the town hall")
	cmd.Flags().BoolVar(&opts.Training, "training", false, "make a training kit with its own throwaway town hall")
	return cmd
}

func initRun(opts *initOptions) error {
	dir := opts.f.DataDir
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
	if err := initDataDir(opts.ctx, dir, kit); err != nil {
		return err
	}
	mode := "enrolled with " + kit.Bundle.URL
	if kit.Training {
		mode = "training kit"
	}
	fmt.Fprintf(opts.f.Out, "kit %s initialised in %s (%s)\n", kit.Bundle.KitID, dir, mode)
	return nil
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

// initDataDir creates dir (0700), the database and the kit identity files.
func initDataDir(ctx context.Context, dir string, kit *keys.Kit) error {
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
	return keys.SaveKit(dir, kit)
}
