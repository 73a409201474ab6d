// Package profile reads the kit profile: a TOML file naming the devices a kit should have (by
// kind, with a USB VID:PID or a network URI) and the town hall it talks to. `koffer devices`
// and `koffer doctor` compare what is attached with it.
package profile

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"koffer/devices"
	"koffer/devices/usb"
)

// DefaultPath is where the kit profile lives on a kit.
const DefaultPath = "/etc/koffer/kit.toml"

// Profile is a parsed kit profile.
//
//	townhall = "https://rathaus.example.de/koffer"
//
//	[[device]]
//	kind = "printer"
//	name = "Drucker Brother"
//	usb  = "04f9:2042"
//
//	[[device]]
//	kind = "scanner"
//	uri  = "http://192.168.8.20/eSCL"
type Profile struct {
	TownHall string   `toml:"townhall"`
	Devices  []Device `toml:"device"`
}

// Device is one expected device: USB (USBID set) or network (URI set), never both.
type Device struct {
	Kind  devices.Kind `toml:"kind"`
	Name  string       `toml:"name"`
	USB   string       `toml:"usb"`
	URI   string       `toml:"uri"`
	USBID usb.ID       `toml:"-"`
}

// Network reports whether d is reached over the network.
func (d Device) Network() bool { return d.URI != "" }

// Kinds every profile may name.
var knownKinds = []devices.Kind{devices.Printer, devices.Scanner, devices.Fingerprint}

// Load reads and parses the profile at path.
func Load(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kit profile: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("kit profile %s: %w", path, err)
	}
	return p, nil
}

// Parse decodes a profile. Unknown keys are an error naming the key: a typo must not drop a
// device silently.
func Parse(data []byte) (*Profile, error) {
	var p Profile
	md, err := toml.Decode(string(data), &p)
	if err != nil {
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("unknown key(s) %s", strings.Join(keys, ", "))
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Profile) validate() error {
	if p.TownHall != "" {
		u, err := url.Parse(p.TownHall)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("townhall %q: want an https:// URL", p.TownHall)
		}
	}
	var errs []error
	for i := range p.Devices {
		d := &p.Devices[i]
		where := fmt.Sprintf("device %d (%s)", i+1, d.Kind)
		known := false
		for _, k := range knownKinds {
			known = known || d.Kind == k
		}
		if !known {
			errs = append(errs, fmt.Errorf("%s: kind must be printer, scanner or fingerprint", where))
			continue
		}
		switch {
		case d.USB != "" && d.URI != "":
			errs = append(errs, fmt.Errorf("%s: usb and uri both set; name one", where))
		case d.USB != "":
			id, err := usb.ParseID(d.USB)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: usb %q: %w", where, d.USB, err))
			}
			d.USBID = id
		case d.URI != "":
			u, err := url.Parse(d.URI)
			if err != nil || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s: uri %q: not a URL with a host", where, d.URI))
				continue
			}
			switch u.Scheme {
			case "ipp", "ipps", "http", "https":
			default:
				errs = append(errs, fmt.Errorf("%s: uri %q: scheme must be ipp, ipps, http or https", where, d.URI))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: set usb (VID:PID) or uri", where))
		}
	}
	return errors.Join(errs...)
}

// Of returns the devices of kind k.
func (p *Profile) Of(k devices.Kind) []Device {
	if p == nil {
		return nil
	}
	var out []Device
	for _, d := range p.Devices {
		if d.Kind == k {
			out = append(out, d)
		}
	}
	return out
}
