package uru4000

import (
	"encoding/binary"

	"koffer/devices/fingerprint"
)

// frame is the bulk frame: a 64-byte header, then up to Height lines of Width pixels.
//
//	0..3   unknown
//	4..5   number of lines delivered (little endian)
//	6      key number the scrambling started with
//	16..45 15 blocks of (flags, lines): how the lines are laid out and scrambled
type frame struct {
	lines     int
	keyNumber byte
	blocks    [numBlocks]struct{ flags, lines byte }
	data      []byte // Height*Width bytes, zero beyond what the reader sent
}

// parseFrame checks the header of buf (n bytes received) against what was delivered.
func parseFrame(buf []byte, n int) (*frame, error) {
	if n < headerLen || len(buf) != frameLen {
		return nil, fingerprint.Failf(fingerprint.CodeTruncated, "uru4000: frame of %d bytes", n)
	}
	f := &frame{
		lines:     int(binary.LittleEndian.Uint16(buf[4:])),
		keyNumber: buf[6],
		data:      buf[headerLen:],
	}
	for i := range f.blocks {
		f.blocks[i].flags = buf[16+2*i]
		f.blocks[i].lines = buf[17+2*i]
	}
	if f.lines >= Height || n < f.lines*Width+headerLen {
		return nil, fingerprint.Failf(fingerprint.CodeBadImage, "uru4000: frame says %d lines, %d bytes came", f.lines, n)
	}
	return f, nil
}

// encrypted guesses whether the frame is scrambled from the variance of its first two
// present lines: a real image varies slowly along a line.
func (f *frame) encrypted() bool {
	var rows [][]byte
	r := 0
	for _, b := range f.blocks {
		if len(rows) == 2 {
			break
		}
		if b.flags&blockNotPresent != 0 {
			continue
		}
		for j := 0; j < int(b.lines) && len(rows) < 2; j++ {
			rows = append(rows, f.data[r*Width:(r+1)*Width])
			r++
		}
	}
	if len(rows) < 2 {
		return false
	}
	mean := 0
	for i := range Width {
		mean += int(rows[0][i]) + int(rows[1][i])
	}
	mean /= Width
	sum := 0
	for i := range Width {
		dev := int(rows[0][i]) + int(rows[1][i]) - mean
		sum += dev * dev
	}
	return sum/Width >= encryptedVariance
}

// decode undoes the scrambling from block on, starting at line, with the key stream at key.
// It stops (changed=true) at a block that starts a new key period, clearing its flag so the
// caller can fetch the next key and call again.
func (f *frame) decode(block, line int, key uint32) (int, int, uint32, bool, error) {
	for ; block < numBlocks && line < f.lines; block++ {
		b := &f.blocks[block]
		if b.lines == 0 {
			break
		}
		if b.flags&blockChangeKey != 0 {
			b.flags &^= blockChangeKey
			return block, line, key, true, nil
		}
		n := int(b.lines) * Width
		if line*Width+n > len(f.data) {
			return 0, 0, 0, false, fingerprint.Failf(fingerprint.CodeBadImage, "uru4000: block %d runs past the frame", block)
		}
		switch b.flags & (blockNoKeyStep | blockEncrypted) {
		case blockEncrypted:
			key = unscrambleLines(f.data[line*Width:line*Width+n], key)
		case 0:
			for range n {
				key = nextKey(key)
			}
		}
		if b.flags&blockNotPresent == 0 {
			line += int(b.lines)
		}
	}
	return block, line, key, false, nil
}

// assemble lays the blocks out into a full frame: absent blocks repeat the lines that follow.
func (f *frame) assemble() ([]byte, error) {
	out := make([]byte, Width*Height)
	to, r := 0, 0
	for _, b := range f.blocks {
		if r >= f.lines || b.lines == 0 {
			break
		}
		n := int(b.lines) * Width
		if to+n > len(out) || r*Width+n > len(f.data) {
			return nil, fingerprint.Failf(fingerprint.CodeBadImage, "uru4000: blocks exceed %d lines", Height)
		}
		copy(out[to:to+n], f.data[r*Width:r*Width+n])
		if b.flags&blockNotPresent == 0 {
			r += int(b.lines)
		}
		to += n
	}
	return out, nil
}

// nextKey steps the key stream: a 32-bit linear feedback shift register shifting right, the
// new top bit the parity of the tapped bits (mask 0x9248144d).
func nextKey(key uint32) uint32 {
	bit := key & 0x9248144d
	bit ^= bit << 16
	bit ^= bit << 8
	bit ^= bit << 4
	bit ^= bit << 2
	bit ^= bit << 1
	return bit&0x80000000 | key>>1
}

// keyBits are the key stream bits that form one pad byte, least significant first.
var keyBits = [8]uint{4, 8, 11, 14, 18, 21, 24, 29}

// unscrambleLines decodes b in place: each byte is the next byte xor a pad byte taken from
// the key stream; the last byte is zero. It returns the key after b.
func unscrambleLines(b []byte, key uint32) uint32 {
	last := len(b) - 1
	for i := range last {
		var pad byte
		for j, s := range keyBits {
			pad |= byte(key>>s&1) << j
		}
		key = nextKey(key)
		b[i] = b[i+1] ^ pad
	}
	if last >= 0 {
		b[last] = 0
	}
	return nextKey(key)
}
