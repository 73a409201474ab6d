package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"koffer/agent/client"
)

type queueOptions struct {
	f    *factory
	ctx  context.Context
	JSON bool
	ID   string
}

func newQueueCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Show the cases and the outbox",
	}
	cmd.AddCommand(newQueueLsCmd(f, nil), newQueueShowCmd(f, nil))
	return cmd
}

func newQueueLsCmd(f *factory, runF func(*queueOptions) error) *cobra.Command {
	opts := &queueOptions{f: f}
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the cases, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return queueLsRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

func newQueueShowCmd(f *factory, runF func(*queueOptions) error) *cobra.Command {
	opts := &queueOptions{f: f}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one case",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx = cmd.Context()
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return queueShowRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func queueLsRun(opts *queueOptions) error {
	ctx, cancel := context.WithTimeout(opts.ctx, 10*time.Second)
	defer cancel()
	cs, err := client.New(opts.f.DataDir).Queue(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		return json.NewEncoder(opts.f.Out).Encode(cs)
	}
	tw := tabwriter.NewWriter(opts.f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSERVICE\tSTATE\tCREATED\tATTEMPTS\tRECEIPT")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", c.ID, c.Service, c.State, c.CreatedAt.Local().Format("2006-01-02 15:04"), c.Attempts, c.ReceiptNumber)
	}
	return tw.Flush()
}

func queueShowRun(opts *queueOptions) error {
	ctx, cancel := context.WithTimeout(opts.ctx, 10*time.Second)
	defer cancel()
	c, err := client.New(opts.f.DataDir).Case(ctx, opts.ID)
	if err != nil {
		return err
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.f.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	w := opts.f.Out
	fmt.Fprintf(w, "id:         %s\n", c.ID)
	fmt.Fprintf(w, "service:    %s\n", c.Service)
	fmt.Fprintf(w, "state:      %s\n", c.State)
	fmt.Fprintf(w, "late:       %t\n", c.Late)
	fmt.Fprintf(w, "created:    %s\n", c.CreatedAt.Local().Format(time.RFC3339))
	if !c.SealedAt.IsZero() {
		fmt.Fprintf(w, "sealed:     %s\n", c.SealedAt.Local().Format(time.RFC3339))
		fmt.Fprintf(w, "packet:     %d bytes\n", c.PacketSize)
	}
	if c.Attempts > 0 {
		fmt.Fprintf(w, "attempts:   %d (last error: %s)\n", c.Attempts, c.LastError)
		fmt.Fprintf(w, "next try:   %s\n", c.NextAttemptAt.Local().Format(time.RFC3339))
	}
	if c.Parked != "" {
		fmt.Fprintf(w, "parked:     %s\n", c.Parked)
	}
	if !c.DeliveredAt.IsZero() {
		fmt.Fprintf(w, "delivered:  %s (receipt %s)\n", c.DeliveredAt.Local().Format(time.RFC3339), c.ReceiptNumber)
	}
	return nil
}
