// Package profile reads the kit profile: the one description of the devices a kit has (by
// kind, with a USB VID:PID, a network URI or, for a fingerprint reader, an SDK helper command).
// The agent builds its printer, scanner and reader from it; `koffer devices` and `koffer
// doctor` compare what is attached with it. The town hall is not in the profile: it comes with
// the enrollment bundle (kit.json), together with the CA pinned for it.
package profile

import (
	"errors"
	"fmt"
	"io/fs"
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
//	[[device]]
//	kind = "printer"
//	name = "Drucker Brother"
//	usb  = "04f9:2042"
//
//	[[device]]
//	kind = "scanner"
//	uri  = "http://192.168.8.20/eSCL"
//
//	[[device]]
//	kind    = "fingerprint"
//	usb     = "147e:2016"            # a reader koffer has a driver for
//	# command = ["/usr/lib/koffer/reader-helper", "--model", "x"]   # or a vendor SDK helper (extproc)
type Profile struct {
	Devices []Device `toml:"device"`
	// TownHall is refused with a pointer to the bundle (older profiles named it here).
	TownHall string `toml:"townhall"`
}

// Device is one expected device: USB (USBID set), network (URI set) or, for a fingerprint
// reader only, an SDK helper (Command set); exactly one of them.
type Device struct {
	Kind    devices.Kind `toml:"kind"`
	Name    string       `toml:"name"`
	USB     string       `toml:"usb"`
	URI     string       `toml:"uri"`
	Command []string     `toml:"command"` // extproc helper: program and arguments
	USBID   usb.ID       `toml:"-"`
}

// Helper reports whether d is a fingerprint reader driven by an SDK helper process.
func (d Device) Helper() bool { return len(d.Command) > 0 }

// Network reports whether d is reached over the network.
func (d Device) Network() bool { return d.URI != "" }

// Kinds every profile may name.
var knownKinds = []devices.Kind{devices.Printer, devices.Scanner, devices.Fingerprint}

// Resolve loads the kit profile every command of a kit uses: path when given (the agent's
// `profile` config key or a --profile flag; it must exist), else DefaultPath when that exists.
// No profile at all is (nil, nil): a kit without devices.
func Resolve(path string) (*Profile, error) {
	if path != "" {
		return Load(path)
	}
	p, err := Load(DefaultPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return p, err
}

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
		return errors.New("townhall: the town hall is taken from the enrollment bundle (koffer init --enroll); remove this key from the kit profile")
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
		set := 0
		for _, v := range []bool{d.USB != "", d.URI != "", len(d.Command) > 0} {
			if v {
				set++
			}
		}
		switch {
		case set > 1:
			errs = append(errs, fmt.Errorf("%s: more than one of usb, uri and command set; name one", where))
		case len(d.Command) > 0:
			if d.Kind != devices.Fingerprint {
				errs = append(errs, fmt.Errorf("%s: command is for a fingerprint reader's SDK helper only", where))
			} else if d.Command[0] == "" {
				errs = append(errs, fmt.Errorf("%s: command: the first element names the helper program", where))
			}
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
			errs = append(errs, fmt.Errorf("%s: set usb (VID:PID), uri or (fingerprint only) command", where))
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
