// Package inventory says what is attached to the kit and what it should have: it classifies USB
// devices (fingerprint reader family, IPP-over-USB printer/scanner, unknown), compares them and
// the configured network devices with the kit profile, and turns successive enumerations into
// attach and detach events (gousb has no hot-plug, so the agent polls).
package inventory

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"koffer/devices"
	"koffer/devices/fingerprint/usbreader"
	"koffer/devices/profile"
	"koffer/devices/usb"
)

// Lister lists attached USB devices (usb.Enumerate in production).
type Lister func(ctx context.Context) ([]usb.DeviceInfo, error)

// USBLister lists with usb.Enumerate, reading strings (serial numbers) where permitted.
func USBLister(ctx context.Context) ([]usb.DeviceInfo, error) {
	return usb.Enumerate(ctx, usb.EnumerateOptions{Strings: true})
}

// USBDevice is one attached USB device and what koffer makes of it.
type USBDevice struct {
	ID      string         `json:"id"` // VID:PID
	Bus     int            `json:"bus"`
	Address int            `json:"address"`
	Class   string         `json:"class"` // device class triple, hex
	Serial  string         `json:"serial,omitempty"`
	Product string         `json:"product,omitempty"`
	Kinds   []devices.Kind `json:"kinds,omitempty"`
	Koffer  string         `json:"koffer"` // "fingerprint reader (uru4000: ...)", "IPP-over-USB printer/scanner", "unknown"
}

// Classify says what koffer makes of an attached device.
func Classify(d usb.DeviceInfo) (what string, kinds []devices.Kind) {
	if m, ok := usbreader.Lookup(d.ID, d.Release); ok {
		return fmt.Sprintf("fingerprint reader %s (%s)", m.Name, m.Family), []devices.Kind{devices.Fingerprint}
	}
	// IPP-over-USB (class 7 printer, subclass 1, protocol 4): IPP for printing, and on
	// multifunction devices eSCL over the same interfaces.
	if d.HasInterfaceClass(7, 1, 4) {
		return "IPP-over-USB printer/scanner", []devices.Kind{devices.Printer, devices.Scanner}
	}
	return "unknown", nil
}

func describe(d usb.DeviceInfo) USBDevice {
	what, kinds := Classify(d)
	return USBDevice{
		ID: d.ID.String(), Bus: d.Bus, Address: d.Address,
		Class:  fmt.Sprintf("%02x/%02x/%02x", d.Class, d.SubClass, d.Protocol),
		Serial: d.Serial, Product: d.Product, Kinds: kinds, Koffer: what,
	}
}

// NetworkDevice is a device the profile names by URI.
type NetworkDevice struct {
	Kind      devices.Kind `json:"kind"`
	Name      string       `json:"name,omitempty"`
	URI       string       `json:"uri"`
	Reachable bool         `json:"reachable"`
	Problem   string       `json:"problem,omitempty"`
}

// KindStatus says whether the profile's expectation for one kind is met.
type KindStatus struct {
	Kind      devices.Kind `json:"kind"`
	Expected  int          `json:"expected"`
	Found     int          `json:"found"`
	Satisfied bool         `json:"satisfied"`
	Missing   []string     `json:"missing,omitempty"` // VID:PID or URI of what is not there
}

// Inventory is everything `koffer devices` prints.
type Inventory struct {
	USB      []USBDevice     `json:"usb"`
	USBError string          `json:"usb_error,omitempty"`
	Network  []NetworkDevice `json:"network"`
	Kinds    []KindStatus    `json:"kinds"`
}

// Options tune Take. Zero values mean default.
type Options struct {
	List Lister // default USBLister
	// Dial checks a network device is reachable (default a TCP connect with DialTimeout).
	Dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	DialTimeout time.Duration // default 2 s
}

// Take lists the attached USB devices, checks the profile's network devices for a TCP answer
// and compares both with the profile (prof may be nil: no expectations).
func Take(ctx context.Context, prof *profile.Profile, opts Options) Inventory {
	if opts.List == nil {
		opts.List = USBLister
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 2 * time.Second
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	inv := Inventory{USB: []USBDevice{}, Network: []NetworkDevice{}, Kinds: []KindStatus{}}
	attached, err := opts.List(ctx)
	if err != nil {
		inv.USBError = err.Error()
	}
	present := map[usb.ID]bool{}
	for _, d := range attached {
		inv.USB = append(inv.USB, describe(d))
		present[d.ID] = true
	}
	for _, k := range []devices.Kind{devices.Printer, devices.Scanner, devices.Fingerprint} {
		want := prof.Of(k)
		if len(want) == 0 {
			continue
		}
		ks := KindStatus{Kind: k, Expected: len(want)}
		for _, d := range want {
			if d.Network() {
				nd := NetworkDevice{Kind: k, Name: d.Name, URI: d.URI}
				nd.Reachable, nd.Problem = reachable(ctx, d.URI, opts)
				inv.Network = append(inv.Network, nd)
				if nd.Reachable {
					ks.Found++
				} else {
					ks.Missing = append(ks.Missing, d.URI)
				}
				continue
			}
			if present[d.USBID] {
				ks.Found++
			} else {
				ks.Missing = append(ks.Missing, d.USBID.String())
			}
		}
		ks.Satisfied = ks.Found == ks.Expected
		inv.Kinds = append(inv.Kinds, ks)
	}
	return inv
}

func reachable(ctx context.Context, uri string, opts Options) (bool, string) {
	u, err := url.Parse(uri)
	if err != nil {
		return false, err.Error()
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"ipp": "631", "ipps": "631", "http": "80", "https": "443"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	c, err := opts.Dial(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return false, err.Error()
	}
	c.Close()
	return true, ""
}
