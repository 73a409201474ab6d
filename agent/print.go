package agent

import (
	"context"

	"koffer/agent/documents"
	"koffer/devices/ipp"
)

// Printer is what the agent needs from a printer; *ipp.Client and *sim.Printer have it.
type Printer interface {
	Print(ctx context.Context, doc ipp.Document, onUpdate func(ipp.JobStatus)) (ipp.Result, error)
}

// authority is the letterhead of every certificate, from the config.
func (c Config) authority() (documents.Authority, string) {
	a := documents.Authority{Name: c.AuthorityName, Address: c.AuthorityAddress}
	if a.Name == "" {
		a.Name = "Bürgeramt"
	}
	return a, c.Place
}
