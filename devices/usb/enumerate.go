package usb

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/gousb"
)

// InterfaceClass is the class triple of one interface alternate setting.
type InterfaceClass struct {
	Number, Alternate         int
	Class, SubClass, Protocol uint8
}

// DeviceInfo describes an attached device as `koffer devices` lists it. Strings are empty when
// they were not asked for or the device did not answer.
type DeviceInfo struct {
	ID                        ID
	Release                   uint16 // bcdDevice: the device's firmware/hardware release
	Bus, Address              int
	Class, SubClass, Protocol uint8
	Interfaces                []InterfaceClass
	Manufacturer, Product     string
	Serial                    string
}

// EnumerateOptions tune Enumerate. The zero value lists descriptors only, which needs no
// device access rights.
type EnumerateOptions struct {
	// Strings opens each device to read manufacturer, product and serial number (standard
	// control transfers, each bounded by the context).
	Strings bool
}

// HasInterfaceClass reports whether any interface of d has the given class triple.
func (d DeviceInfo) HasInterfaceClass(class, subClass, protocol uint8) bool {
	for _, i := range d.Interfaces {
		if i.Class == class && i.SubClass == subClass && i.Protocol == protocol {
			return true
		}
	}
	return false
}

// stringTimeout bounds each string descriptor request of Enumerate.
const stringTimeout = 500 * time.Millisecond

// Enumerate lists the attached USB devices, sorted by bus and address.
func Enumerate(ctx context.Context, opts EnumerateOptions) ([]DeviceInfo, error) {
	uctx, err := NewContext()
	if err != nil {
		return nil, fmt.Errorf("enumerate: %w", err)
	}
	defer uctx.Close()
	var infos []DeviceInfo
	devs, openErr := uctx.OpenDevices(func(desc *gousb.DeviceDesc) bool {
		infos = append(infos, infoFromDesc(desc))
		return opts.Strings
	})
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	for _, d := range devs {
		budget, err := xferBudget(ctx)
		if err != nil {
			return nil, fmt.Errorf("enumerate: %w", err)
		}
		// A device that does not answer string requests must not stall the listing.
		d.ControlTimeout = min(budget, stringTimeout)
		for i := range infos {
			if infos[i].Bus != d.Desc.Bus || infos[i].Address != d.Desc.Address {
				continue
			}
			infos[i].Manufacturer, _ = d.Manufacturer()
			infos[i].Product, _ = d.Product()
			infos[i].Serial, _ = d.SerialNumber()
		}
	}
	sort.Slice(infos, func(a, b int) bool {
		if infos[a].Bus != infos[b].Bus {
			return infos[a].Bus < infos[b].Bus
		}
		return infos[a].Address < infos[b].Address
	})
	if openErr != nil && !opts.Strings {
		return infos, fmt.Errorf("enumerate: %w", usbErr(openErr))
	}
	// With Strings, devices we may not open still appear, without their strings.
	return infos, nil
}

func infoFromDesc(desc *gousb.DeviceDesc) DeviceInfo {
	info := DeviceInfo{
		ID:       ID{Vendor: uint16(desc.Vendor), Product: uint16(desc.Product)},
		Release:  uint16(desc.Device),
		Bus:      desc.Bus,
		Address:  desc.Address,
		Class:    uint8(desc.Class),
		SubClass: uint8(desc.SubClass),
		Protocol: uint8(desc.Protocol),
	}
	cfgNums := make([]int, 0, len(desc.Configs))
	for n := range desc.Configs {
		cfgNums = append(cfgNums, n)
	}
	sort.Ints(cfgNums)
	for _, n := range cfgNums {
		for _, intf := range desc.Configs[n].Interfaces {
			for _, alt := range intf.AltSettings {
				info.Interfaces = append(info.Interfaces, InterfaceClass{
					Number: alt.Number, Alternate: alt.Alternate,
					Class: uint8(alt.Class), SubClass: uint8(alt.SubClass), Protocol: uint8(alt.Protocol),
				})
			}
		}
	}
	return info
}
