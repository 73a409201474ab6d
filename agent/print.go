package agent

import (
	"koffer/agent/casework"
	"koffer/agent/documents"
	"koffer/sync/enroll"
)

// Printer is what the core needs from a printer (casework.Printer); *ipp.Client and
// *sim.Printer have it.
type Printer = casework.Printer

// letterhead is the issuing authority of every certificate: the enrollment bundle's (the town
// hall sets it once), else the config's (kits enrolled before bundles carried one), else, on a
// training kit, the marked training values. Nothing is made up for a real kit.
func (a *Agent) letterhead() (documents.Authority, string) {
	lh := a.kit.Bundle.Letterhead
	if lh == (enroll.Letterhead{}) {
		lh = enroll.Letterhead{AuthorityName: a.opts.Config.AuthorityName,
			AuthorityAddress: a.opts.Config.AuthorityAddress, Place: a.opts.Config.Place}
	}
	if lh == (enroll.Letterhead{}) && a.opts.Training {
		lh = enroll.TrainingLetterhead
	}
	auth := documents.Authority{Name: lh.AuthorityName, Address: lh.AuthorityAddress}
	if auth.Name == "" {
		auth.Name = "Bürgeramt"
	}
	return auth, lh.Place
}
