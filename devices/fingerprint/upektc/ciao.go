package upektc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A Ciao frame, as the TouchChip coprocessor speaks it in both directions:
//
//	"Ciao" | type | seq<<4 | len>>8 | len&0xff | payload[len] | crc16 (little endian)
//
// The CRC (CRC-16/XMODEM: polynomial 0x1021, initial 0, not reflected) covers type, the two
// seq/length bytes and the payload. Frames from the device are padded to the transfer size.
const (
	ciaoMagic     = "Ciao"
	ciaoHeaderLen = 7
	ciaoCRCLen    = 2
	ciaoMaxLen    = 0x0fff
)

// Frame is one decoded Ciao frame.
type Frame struct {
	Type    byte
	Seq     byte // 4 bits
	Payload []byte
}

var (
	errMagic     = errors.New("ciao: no Ciao magic")
	errTruncated = errors.New("ciao: truncated frame")
	errCRC       = errors.New("ciao: crc mismatch")
)

var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>8)^x]
	}
	return c
}

// AppendFrame appends the encoding of f to dst.
func AppendFrame(dst []byte, f Frame) []byte {
	n := len(f.Payload)
	start := len(dst)
	dst = append(dst, ciaoMagic...)
	dst = append(dst, f.Type, f.Seq<<4|byte(n>>8)&0x0f, byte(n))
	dst = append(dst, f.Payload...)
	return binary.LittleEndian.AppendUint16(dst, crc16(dst[start+4:]))
}

// FrameSize returns the total length of the frame that b begins with, from its header.
func FrameSize(b []byte) (int, error) {
	if len(b) < ciaoHeaderLen {
		return 0, fmt.Errorf("%w: %d bytes, header needs %d", errTruncated, len(b), ciaoHeaderLen)
	}
	if string(b[:4]) != ciaoMagic {
		return 0, fmt.Errorf("%w: % x", errMagic, b[:4])
	}
	n := int(b[5]&0x0f)<<8 | int(b[6])
	return ciaoHeaderLen + n + ciaoCRCLen, nil
}

// ParseFrame decodes the frame at the start of b; bytes after it (padding) are ignored.
// The payload aliases b.
func ParseFrame(b []byte) (Frame, error) {
	size, err := FrameSize(b)
	if err != nil {
		return Frame{}, err
	}
	if len(b) < size {
		return Frame{}, fmt.Errorf("%w: %d bytes, frame needs %d", errTruncated, len(b), size)
	}
	body := b[4 : size-ciaoCRCLen]
	if got, want := crc16(body), binary.LittleEndian.Uint16(b[size-ciaoCRCLen:]); got != want {
		return Frame{}, fmt.Errorf("%w: computed %#04x, frame says %#04x", errCRC, got, want)
	}
	return Frame{Type: b[4], Seq: b[5] >> 4, Payload: b[ciaoHeaderLen : size-ciaoCRCLen]}, nil
}
