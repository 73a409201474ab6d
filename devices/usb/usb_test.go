package usb

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ID
		wantErr bool
	}{
		{name: "upek", in: "147e:2016", want: ID{0x147e, 0x2016}},
		{name: "upper case", in: "05BA:000A", want: ID{0x05ba, 0x000a}},
		{name: "missing colon", in: "147e2016", wantErr: true},
		{name: "short", in: "147e:16", wantErr: true},
		{name: "garbage", in: "zzzz:2016", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseID(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, strings.ToLower(tt.in), got.String())
		})
	}
}

func TestFakePlaysLanesInOrder(t *testing.T) {
	f := NewFake([]Step{
		{Kind: StepWrite, Endpoint: 0x02, Data: []byte{1}},
		{Kind: StepRead, Endpoint: 0x81, Length: 4, Data: []byte{9, 8}},
		{Kind: StepControl, RequestType: 0xc0, Request: 4, Value: 7, Length: 1, Data: []byte{0x55}},
	})
	ctx := t.Context()
	// Lanes are independent: the control answer may be taken before the bulk exchange.
	buf := make([]byte, 1)
	n, err := f.Control(ctx, 0xc0, 4, 7, 0, buf)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, byte(0x55), buf[0])
	_, err = f.Write(ctx, 0x02, []byte{1})
	require.NoError(t, err)
	rb := make([]byte, 4)
	n, err = f.Read(ctx, 0x81, rb)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, 3, f.Done)
	assert.Zero(t, f.Remaining())
}

func TestFakeFaults(t *testing.T) {
	tests := []struct {
		name string
		step Step
		want error
	}{
		{name: "timeout", step: Step{Kind: StepRead, Endpoint: 0x81, Length: 1, Fault: FaultTimeout}, want: ErrTimeout},
		{name: "stall", step: Step{Kind: StepRead, Endpoint: 0x81, Length: 1, Fault: FaultStall}, want: ErrStall},
		{name: "unplug", step: Step{Kind: StepRead, Endpoint: 0x81, Length: 1, Fault: FaultUnplug}, want: ErrUnplugged},
		{name: "wrong length is a script error", step: Step{Kind: StepRead, Endpoint: 0x81, Length: 2}, want: ErrScript},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFake([]Step{tt.step})
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			_, err := f.Read(ctx, 0x81, make([]byte, 1))
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestFakeSilenceEndsAtDeadline(t *testing.T) {
	f := NewFake(nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := f.Read(ctx, 0x81, make([]byte, 64))
	assert.ErrorIs(t, err, ErrTimeout)
}

func TestFakeUnplugWakesPendingRead(t *testing.T) {
	f := NewFake(nil)
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := f.Read(ctx, 0x81, make([]byte, 64))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	f.Unplug()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, ErrUnplugged)
	case <-time.After(2 * time.Second):
		t.Fatal("pending read not woken by unplug")
	}
	_, err := f.Write(t.Context(), 0x02, []byte{1})
	assert.ErrorIs(t, err, ErrUnplugged)
}

func TestTransferBudget(t *testing.T) {
	d, err := xferBudget(context.Background())
	require.NoError(t, err)
	assert.Equal(t, DefaultTransferTimeout, d)

	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	d, err = xferBudget(ctx)
	require.NoError(t, err)
	assert.Greater(t, d, 59*time.Minute)

	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = xferBudget(done)
	assert.True(t, errors.Is(err, context.Canceled))
}

// pcapng builds a minimal little-endian usbmon recording for tests.
func pcapng(pkts ...[]byte) []byte {
	block := func(typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		b := binary.LittleEndian.AppendUint32(nil, typ)
		b = binary.LittleEndian.AppendUint32(b, n)
		b = append(b, body...)
		return binary.LittleEndian.AppendUint32(b, n)
	}
	shb := binary.LittleEndian.AppendUint32(nil, 0x1A2B3C4D)
	shb = append(shb, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	out := block(pcapngSHB, shb)
	out = append(out, block(pcapngIDB, []byte{220, 0, 0, 0, 0, 0, 4, 0})...)
	for _, p := range pkts {
		epb := make([]byte, 20)
		binary.LittleEndian.PutUint32(epb[12:], uint32(len(p)))
		binary.LittleEndian.PutUint32(epb[16:], uint32(len(p)))
		out = append(out, block(pcapngEPB, append(epb, p...))...)
	}
	return out
}

func usbmon(id uint64, ev byte, xfer, ep uint8, dev uint8, setup []byte, urbLen uint32, data []byte) []byte {
	h := make([]byte, 64)
	binary.LittleEndian.PutUint64(h, id)
	h[8], h[9], h[10], h[11] = ev, xfer, ep, dev
	binary.LittleEndian.PutUint16(h[12:], 1)
	if setup == nil {
		h[14] = '-'
	} else {
		copy(h[40:], setup)
	}
	binary.LittleEndian.PutUint32(h[32:], urbLen)
	binary.LittleEndian.PutUint32(h[36:], uint32(len(data)))
	return append(h, data...)
}

func TestStepsFromRecording(t *testing.T) {
	rec := pcapng(
		usbmon(1, 'S', xferControl, 0x80, 3, []byte{0x80, 6, 0, 1, 0, 0, 18, 0}, 18, nil), // standard: skipped
		usbmon(1, 'C', xferControl, 0x80, 3, nil, 18, make([]byte, 18)),
		usbmon(2, 'S', xferBulk, 0x02, 3, nil, 3, []byte{1, 2, 3}),
		usbmon(3, 'S', xferBulk, 0x81, 3, nil, 64, nil),
		usbmon(2, 'C', xferBulk, 0x02, 3, nil, 3, nil),
		usbmon(3, 'C', xferBulk, 0x81, 3, nil, 2, []byte{7, 8}),
		usbmon(4, 'S', xferBulk, 0x81, 9, nil, 64, nil), // another device
		usbmon(5, 'S', xferInterrupt, 0x81, 3, nil, 64, nil),
		usbmon(5, 'C', xferInterrupt, 0x81, 3, nil, 0, nil), // status set below: cancelled
	)
	pkts, err := ParseRecording(bytesReader(rec))
	require.NoError(t, err)
	require.Len(t, pkts, 9)
	pkts[8].Status = -2
	steps, err := StepsFromRecording(pkts, 1, 3)
	require.NoError(t, err)
	require.Len(t, steps, 2)
	assert.Equal(t, Step{Kind: StepWrite, Endpoint: 0x02, Length: 3, Data: []byte{1, 2, 3}}, steps[0])
	assert.Equal(t, Step{Kind: StepRead, Endpoint: 0x81, Length: 64, Data: []byte{7, 8}}, steps[1])
}

func TestParseRecordingRejects(t *testing.T) {
	good := pcapng(usbmon(1, 'S', xferBulk, 0x02, 3, nil, 1, []byte{1}))
	tests := []struct {
		name string
		b    []byte
	}{
		{name: "truncated", b: good[:len(good)-5]},
		{name: "big endian", b: append([]byte{0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, 0x1A, 0x2B, 0x3C, 0x4D}, good[12:]...)},
		{name: "bad length", b: append([]byte{0x0A, 0x0D, 0x0D, 0x0A, 3, 0, 0, 0}, good[8:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRecording(bytesReader(tt.b))
			assert.ErrorIs(t, err, errRecording)
		})
	}
}

func FuzzParseRecording(f *testing.F) {
	f.Add(pcapng(usbmon(1, 'S', xferBulk, 0x02, 3, nil, 1, []byte{1}), usbmon(1, 'C', xferBulk, 0x02, 3, nil, 1, nil)))
	f.Add(pcapng())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pkts, err := ParseRecording(bytesReader(b))
		if err != nil {
			return
		}
		if _, err := StepsFromRecording(pkts, 1, 3); err != nil {
			t.Fatalf("steps from parsed recording: %v", err)
		}
	})
}
