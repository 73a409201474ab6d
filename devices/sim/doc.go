// Package sim holds the simulated printer, scanner and fingerprint reader of training mode and
// demos. Only an explicit --training selects them; they never stand in for a missing device.
package sim
