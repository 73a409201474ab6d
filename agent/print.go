package agent

import (
	"koffer/agent/casework"
	"koffer/agent/documents"
)

// Printer is what the core needs from a printer (casework.Printer); *ipp.Client and
// *sim.Printer have it.
type Printer = casework.Printer

// authority is the letterhead of every certificate, from the config.
func (c Config) authority() (documents.Authority, string) {
	a := documents.Authority{Name: c.AuthorityName, Address: c.AuthorityAddress}
	if a.Name == "" {
		a.Name = "Bürgeramt"
	}
	return a, c.Place
}
