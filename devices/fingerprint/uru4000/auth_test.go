package uru4000

import (
	"crypto/aes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/usb"
)

func regRead(reg uint16, data ...byte) usb.Step {
	return usb.Step{Kind: usb.StepControl, RequestType: ctrlIn, Request: ctrlRequest, Value: reg, Length: len(data), Data: data}
}

func regWrite(reg uint16, data ...byte) usb.Step {
	return usb.Step{Kind: usb.StepControl, RequestType: ctrlOut, Request: ctrlRequest, Value: reg, Length: len(data), Data: data}
}

func irqStep(typ uint16) usb.Step {
	d := make([]byte, irqLen)
	binary.BigEndian.PutUint16(d, typ)
	return usb.Step{Kind: usb.StepRead, Endpoint: epIntr, Length: irqLen, Data: d}
}

// TestChallengeResponseAndPlainFrame drives a second-generation Microsoft reader: it stays in
// low power until the host answers its AES challenge, and it sends an unscrambled frame
// that is not rotated.
func TestChallengeResponseAndPlainFrame(t *testing.T) {
	challenge := []byte("koffer-challenge")
	block, err := aes.NewCipher(crKey)
	require.NoError(t, err)
	response := make([]byte, 16)
	block.Encrypt(response, challenge)

	const lines = 10
	frame := make([]byte, headerLen+lines*Width)
	binary.LittleEndian.PutUint16(frame[4:], lines)
	frame[16], frame[17] = 0, lines // one plain block
	for r := range lines {
		for x := range Width {
			frame[headerLen+r*Width+x] = byte(r * 10)
		}
	}

	steps := []usb.Step{
		regRead(regHWStat, 0x80), // already in low power: no power-down write
		regWrite(regHWStat, 0x00),
		regRead(regHWStat, 0x80), // still asleep: wants the challenge answered
		regRead(regChallenge, challenge...),
		regWrite(regResponse, response...),
		regWrite(regHWStat, 0x00),
		regRead(regHWStat, 0x00),
		irqStep(irqScanPowerOn),
		regRead(regDeviceInfo, make([]byte, 16)...),
		regWrite(regMode, modeAwaitFingerOn),
		irqStep(irqFingerOn),
		{Kind: usb.StepRead, Endpoint: epData, Length: frameLen, Data: frame},
		regWrite(regMode, modeCapture),
		regWrite(regMode, modeAwaitFingerOff),
		irqStep(irqFingerOff),
		regWrite(regMode, modeOff),
	}
	fake := usb.NewFake(steps)
	d, err := New(fake, Options{Model: usb.ID{Vendor: 0x045e, Product: 0x00ca}, TransferTimeout: time.Second,
		Seed: func() uint32 { t.Fatal("a plain frame needs no key"); return 0 }})
	require.NoError(t, err)
	img, err := d.Capture(t.Context())
	require.NoError(t, err)
	assert.Zero(t, fake.Remaining())
	for r := range Height {
		want := byte(255)
		if r < lines {
			want = 255 - byte(r*10)
		}
		assert.Equal(t, want, img.Gray.Pix[r*Width+7], "line %d: inverted, not rotated", r)
	}
}
