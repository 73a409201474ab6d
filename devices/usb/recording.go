package usb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Packet is one usbmon event of a recording (Linux usbmon, pcapng, link type 220 or 189).
type Packet struct {
	ID        uint64
	Event     byte // 'S' submit, 'C' complete, 'E' error
	Transfer  uint8
	Endpoint  uint8 // with direction bit
	Bus       uint16
	Device    uint8
	SetupFlag byte // 0 when Setup is valid
	Setup     [8]byte
	Status    int32
	Length    uint32 // URB length: asked for on submit, transferred on completion
	Data      []byte
	// Time is when usbmon saw the event, since the Unix epoch.
	Time time.Duration
}

// usbmon transfer types.
const (
	xferIso       = 0
	xferInterrupt = 1
	xferControl   = 2
	xferBulk      = 3
)

var errRecording = errors.New("usbmon recording")

const (
	pcapngSHB = 0x0A0D0D0A
	pcapngIDB = 1
	pcapngEPB = 6
)

// ParseRecording reads a pcapng file of usbmon packets. Only little-endian sections are
// supported (what usbmon on x86 and ARM writes).
func ParseRecording(r io.Reader) ([]Packet, error) {
	data, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read recording: %w", err)
	}
	var (
		links []uint16
		pkts  []Packet
	)
	for off := 0; off < len(data); {
		if len(data)-off < 12 {
			return nil, fmt.Errorf("%w: truncated block at %d", errRecording, off)
		}
		typ := binary.LittleEndian.Uint32(data[off:])
		n := int(binary.LittleEndian.Uint32(data[off+4:]))
		if n < 12 || n%4 != 0 || n > len(data)-off {
			return nil, fmt.Errorf("%w: bad block length %d at %d", errRecording, n, off)
		}
		body := data[off+8 : off+n-4]
		switch typ {
		case pcapngSHB:
			if len(body) < 4 || binary.LittleEndian.Uint32(body) != 0x1A2B3C4D {
				return nil, fmt.Errorf("%w: not a little-endian pcapng section", errRecording)
			}
			links = links[:0]
		case pcapngIDB:
			if len(body) < 2 {
				return nil, fmt.Errorf("%w: short interface block", errRecording)
			}
			links = append(links, binary.LittleEndian.Uint16(body))
		case pcapngEPB:
			if len(body) < 20 {
				return nil, fmt.Errorf("%w: short packet block", errRecording)
			}
			ifc := int(binary.LittleEndian.Uint32(body))
			capLen := int(binary.LittleEndian.Uint32(body[12:]))
			if ifc >= len(links) || capLen > len(body)-20 {
				return nil, fmt.Errorf("%w: bad packet block at %d", errRecording, off)
			}
			p, err := parseUsbmon(links[ifc], body[20:20+capLen])
			if err != nil {
				return nil, err
			}
			pkts = append(pkts, p)
		}
		off += n
	}
	return pkts, nil
}

func parseUsbmon(link uint16, b []byte) (Packet, error) {
	hdr := 0
	switch link {
	case 220: // LINKTYPE_USB_LINUX_MMAPPED
		hdr = 64
	case 189: // LINKTYPE_USB_LINUX
		hdr = 48
	default:
		return Packet{}, fmt.Errorf("%w: link type %d is not usbmon", errRecording, link)
	}
	if len(b) < hdr {
		return Packet{}, fmt.Errorf("%w: short usbmon header", errRecording)
	}
	p := Packet{
		ID:        binary.LittleEndian.Uint64(b),
		Event:     b[8],
		Transfer:  b[9],
		Endpoint:  b[10],
		Device:    b[11],
		Bus:       binary.LittleEndian.Uint16(b[12:]),
		SetupFlag: b[14],
		Status:    int32(binary.LittleEndian.Uint32(b[28:])),
		Length:    binary.LittleEndian.Uint32(b[32:]),
		Time: time.Duration(int64(binary.LittleEndian.Uint64(b[16:])))*time.Second +
			time.Duration(int32(binary.LittleEndian.Uint32(b[24:])))*time.Microsecond,
	}
	copy(p.Setup[:], b[40:48])
	p.Data = b[hdr:]
	return p, nil
}

// StepsFromRecording turns the packets of one device into Fake steps: each submitted URB
// paired with its completion. Standard control requests (descriptor reads the kernel and
// libusb make) and cancelled URBs are left out, as umockdev does.
func StepsFromRecording(pkts []Packet, bus uint16, device uint8) ([]Step, error) {
	type urb struct{ s, c Packet }
	var urbs []urb
	pending := map[uint64]int{}
	for _, p := range pkts {
		if p.Bus != bus || p.Device != device {
			continue
		}
		switch p.Event {
		case 'S':
			pending[p.ID] = len(urbs)
			urbs = append(urbs, urb{s: p})
		case 'C', 'E':
			if i, ok := pending[p.ID]; ok {
				urbs[i].c = p
				delete(pending, p.ID)
			}
		}
	}
	var steps []Step
	for _, u := range urbs {
		s, c := u.s, u.c
		if c.Event == 0 || c.Status == -2 { // never completed, or cancelled (ENOENT)
			continue
		}
		switch s.Transfer {
		case xferControl:
			if s.Setup[0]&0x60 == 0 {
				continue
			}
			st := Step{
				Kind:        StepControl,
				RequestType: s.Setup[0],
				Request:     s.Setup[1],
				Value:       binary.LittleEndian.Uint16(s.Setup[2:]),
				Index:       binary.LittleEndian.Uint16(s.Setup[4:]),
				Length:      int(binary.LittleEndian.Uint16(s.Setup[6:])),
			}
			if st.RequestType&0x80 != 0 {
				st.Data = c.Data
			} else {
				st.Data = s.Data
			}
			steps = append(steps, st)
		case xferBulk, xferInterrupt:
			if s.Endpoint&0x80 != 0 {
				steps = append(steps, Step{Kind: StepRead, Endpoint: s.Endpoint, Length: int(s.Length), Data: c.Data})
			} else {
				steps = append(steps, Step{Kind: StepWrite, Endpoint: s.Endpoint, Length: int(s.Length), Data: s.Data})
			}
		}
	}
	return steps, nil
}
