// Package iso19794 writes and reads finger image records of ISO/IEC 19794-4:2005 ("FIR",
// version "010"): a 32-byte general header, then per finger a 14-byte view header and the
// image, 8-bit gray, uncompressed or PNG. All integers are big endian.
package iso19794

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"

	"koffer/devices/fingerprint"
)

const (
	headerLen = 32
	viewLen   = 14
	magic     = "FIR\x00"
	version   = "010\x00"
	maxRecord = 1<<48 - 1
)

// Compression of the image data (image compression algorithm field).
type Compression uint8

const (
	Uncompressed Compression = 0
	PNG          Compression = 5
)

// Impression types used here.
const (
	LiveScanPlain = 0
	Swipe         = 8
)

// AcquisitionLevel31 is the image acquisition setting level of 500 ppi, 8-bit gray.
const AcquisitionLevel31 = 31

// ScaleUnitsPPI: resolutions are given in pixels per inch.
const ScaleUnitsPPI = 1

// View is one finger image.
type View struct {
	Position   fingerprint.Finger
	Views      uint8 // count of views of this finger (1)
	ViewNumber uint8 // 1-based
	// Quality is the NFIQ 2 score 0-100, or 0 when none was computed: koffer's built-in
	// estimate is never written as a quality.
	Quality    uint8
	Impression uint8
	Width      uint16
	Height     uint16
	Data       []byte // raw pixels, or a PNG file
}

// Record is a finger image record.
type Record struct {
	CaptureDeviceID  uint16 // 12 bits, vendor assigned; 0 unknown
	AcquisitionLevel uint16
	ScaleUnits       uint8
	ScanResX         uint16
	ScanResY         uint16
	ImageResX        uint16
	ImageResY        uint16
	PixelDepth       uint8
	Compression      Compression
	Views            []View
}

// ErrFormat reports a record that does not follow the standard.
var ErrFormat = errors.New("iso19794-4: malformed record")

// MarshalBinary encodes the record.
func (r *Record) MarshalBinary() ([]byte, error) {
	if len(r.Views) == 0 || len(r.Views) > math.MaxUint8 {
		return nil, fmt.Errorf("iso19794-4: %d views", len(r.Views))
	}
	if r.CaptureDeviceID > 0x0fff {
		return nil, fmt.Errorf("iso19794-4: capture device id %#x exceeds 12 bits", r.CaptureDeviceID)
	}
	total := headerLen
	for _, v := range r.Views {
		if err := r.checkView(v); err != nil {
			return nil, err
		}
		total += viewLen + len(v.Data)
	}
	if total > maxRecord {
		return nil, fmt.Errorf("iso19794-4: record of %d bytes too long", total)
	}
	b := make([]byte, 0, total)
	b = append(b, magic...)
	b = append(b, version...)
	b = append(b, byte(total>>40), byte(total>>32), byte(total>>24), byte(total>>16), byte(total>>8), byte(total))
	b = binary.BigEndian.AppendUint16(b, r.CaptureDeviceID)
	b = binary.BigEndian.AppendUint16(b, r.AcquisitionLevel)
	b = append(b, byte(len(r.Views)), r.ScaleUnits)
	for _, v := range []uint16{r.ScanResX, r.ScanResY, r.ImageResX, r.ImageResY} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = append(b, r.PixelDepth, byte(r.Compression), 0, 0)
	for _, v := range r.Views {
		b = binary.BigEndian.AppendUint32(b, uint32(viewLen+len(v.Data)))
		b = append(b, byte(v.Position), v.Views, v.ViewNumber, v.Quality, v.Impression)
		b = binary.BigEndian.AppendUint16(b, v.Width)
		b = binary.BigEndian.AppendUint16(b, v.Height)
		b = append(b, 0)
		b = append(b, v.Data...)
	}
	return b, nil
}

func (r *Record) checkView(v View) error {
	if !v.Position.Valid() {
		return fmt.Errorf("%w: finger position %d", ErrFormat, v.Position)
	}
	if v.Width == 0 || v.Height == 0 {
		return fmt.Errorf("%w: empty image", ErrFormat)
	}
	if uint64(viewLen+len(v.Data)) > math.MaxUint32 {
		return fmt.Errorf("%w: view too long", ErrFormat)
	}
	if r.Compression == Uncompressed {
		if r.PixelDepth != 8 || len(v.Data) != int(v.Width)*int(v.Height) {
			return fmt.Errorf("%w: %d bytes for %dx%d at depth %d", ErrFormat, len(v.Data), v.Width, v.Height, r.PixelDepth)
		}
	}
	return nil
}

// Parse decodes a record, checking every length against the data.
func Parse(b []byte) (*Record, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes, header needs %d", ErrFormat, len(b), headerLen)
	}
	if string(b[:4]) != magic || string(b[4:8]) != version {
		return nil, fmt.Errorf("%w: not a FIR 010 record", ErrFormat)
	}
	total := uint64(b[8])<<40 | uint64(b[9])<<32 | uint64(b[10])<<24 | uint64(b[11])<<16 | uint64(b[12])<<8 | uint64(b[13])
	if total != uint64(len(b)) {
		return nil, fmt.Errorf("%w: record says %d bytes, has %d", ErrFormat, total, len(b))
	}
	r := &Record{
		CaptureDeviceID:  binary.BigEndian.Uint16(b[14:]) & 0x0fff,
		AcquisitionLevel: binary.BigEndian.Uint16(b[16:]),
		ScaleUnits:       b[19],
		ScanResX:         binary.BigEndian.Uint16(b[20:]),
		ScanResY:         binary.BigEndian.Uint16(b[22:]),
		ImageResX:        binary.BigEndian.Uint16(b[24:]),
		ImageResY:        binary.BigEndian.Uint16(b[26:]),
		PixelDepth:       b[28],
		Compression:      Compression(b[29]),
	}
	n := int(b[18])
	if n == 0 {
		return nil, fmt.Errorf("%w: no views", ErrFormat)
	}
	off := headerLen
	for i := range n {
		if len(b)-off < viewLen {
			return nil, fmt.Errorf("%w: view %d header truncated", ErrFormat, i)
		}
		l := binary.BigEndian.Uint32(b[off:])
		if l < viewLen || uint64(l) > uint64(len(b)-off) {
			return nil, fmt.Errorf("%w: view %d length %d", ErrFormat, i, l)
		}
		v := View{
			Position:   fingerprint.Finger(b[off+4]),
			Views:      b[off+5],
			ViewNumber: b[off+6],
			Quality:    b[off+7],
			Impression: b[off+8],
			Width:      binary.BigEndian.Uint16(b[off+9:]),
			Height:     binary.BigEndian.Uint16(b[off+11:]),
			Data:       b[off+viewLen : off+int(l)],
		}
		if err := r.checkView(v); err != nil {
			return nil, fmt.Errorf("view %d: %w", i, err)
		}
		r.Views = append(r.Views, v)
		off += int(l)
	}
	if off != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the last view", ErrFormat, len(b)-off)
	}
	return r, nil
}

// Image decodes a view's image as 8-bit gray.
func (r *Record) Image(v View) (*image.Gray, error) {
	rect := image.Rect(0, 0, int(v.Width), int(v.Height))
	switch r.Compression {
	case Uncompressed:
		if r.PixelDepth != 8 || len(v.Data) != rect.Dx()*rect.Dy() {
			return nil, fmt.Errorf("%w: raw image size", ErrFormat)
		}
		return &image.Gray{Pix: append([]byte(nil), v.Data...), Stride: rect.Dx(), Rect: rect}, nil
	case PNG:
		cfg, err := png.DecodeConfig(bytes.NewReader(v.Data))
		if err != nil {
			return nil, fmt.Errorf("%w: png: %v", ErrFormat, err)
		}
		if cfg.Width != rect.Dx() || cfg.Height != rect.Dy() || int64(cfg.Width)*int64(cfg.Height) > 1<<26 {
			return nil, fmt.Errorf("%w: png is %dx%d, view says %dx%d", ErrFormat, cfg.Width, cfg.Height, rect.Dx(), rect.Dy())
		}
		img, err := png.Decode(bytes.NewReader(v.Data))
		if err != nil {
			return nil, fmt.Errorf("%w: png: %v", ErrFormat, err)
		}
		g, ok := img.(*image.Gray)
		if !ok {
			return nil, fmt.Errorf("%w: png is not 8-bit gray", ErrFormat)
		}
		return g, nil
	}
	return nil, fmt.Errorf("iso19794-4: compression %d not supported", r.Compression)
}

// FromPrints builds a record of the prints a procedure kept, 500 ppi class, one view each.
func FromPrints(prints []fingerprint.Print, c Compression, deviceID uint16) (*Record, error) {
	if len(prints) == 0 {
		return nil, errors.New("iso19794-4: no prints")
	}
	res := uint16(prints[0].Image.PPI)
	r := &Record{
		CaptureDeviceID: deviceID, AcquisitionLevel: AcquisitionLevel31, ScaleUnits: ScaleUnitsPPI,
		ScanResX: res, ScanResY: res, ImageResX: res, ImageResY: res, PixelDepth: 8, Compression: c,
	}
	for _, p := range prints {
		g := p.Image.Gray
		if uint16(p.Image.PPI) != res {
			return nil, fmt.Errorf("iso19794-4: prints of %d and %d ppi in one record", res, p.Image.PPI)
		}
		v := View{Position: p.Finger, Views: 1, ViewNumber: 1, Impression: LiveScanPlain,
			Width: uint16(g.Rect.Dx()), Height: uint16(g.Rect.Dy())}
		if p.Image.Swipe {
			v.Impression = Swipe
		}
		if p.Score.Method == fingerprint.MethodNFIQ2 {
			v.Quality = uint8(p.Score.Value)
		}
		switch c {
		case Uncompressed:
			v.Data = make([]byte, 0, g.Rect.Dx()*g.Rect.Dy())
			for y := g.Rect.Min.Y; y < g.Rect.Max.Y; y++ {
				v.Data = append(v.Data, g.Pix[(y-g.Rect.Min.Y)*g.Stride:(y-g.Rect.Min.Y)*g.Stride+g.Rect.Dx()]...)
			}
		case PNG:
			var buf bytes.Buffer
			if err := png.Encode(&buf, g); err != nil {
				return nil, fmt.Errorf("iso19794-4: png: %w", err)
			}
			v.Data = buf.Bytes()
		default:
			return nil, fmt.Errorf("iso19794-4: compression %d not supported", c)
		}
		r.Views = append(r.Views, v)
	}
	return r, nil
}
