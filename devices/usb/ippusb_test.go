package usb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/ipp"
	"koffer/devices/ipp/ipptest"
)

// fakeEndpoints is a pair of bulk endpoints in front of a byte stream (a real HTTP server's
// connection). IN transfers are cut short at random, zero-length packets are mixed in, and a
// transfer returns whatever the stream has, so one transfer often carries the end of one
// HTTP message part and the start of the next.
type fakeEndpoints struct {
	conn    net.Conn
	rnd     *rand.Rand
	mu      sync.Mutex
	pending []byte // bytes received from the stream not yet handed out
	zlp     float64
	maxIn   int
	maxOut  int
	outs    atomic.Int64
}

var (
	_ BulkIn  = (*fakeEndpoints)(nil)
	_ BulkOut = (*fakeEndpoints)(nil)
)

func (f *fakeEndpoints) ReadContext(ctx context.Context, buf []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rnd.Float64() < f.zlp {
		return 0, nil // zero-length packet
	}
	if len(f.pending) == 0 {
		dl, ok := ctx.Deadline()
		if !ok {
			return 0, fmt.Errorf("fake: read without deadline")
		}
		_ = f.conn.SetReadDeadline(dl)
		tmp := make([]byte, 64<<10)
		n, err := f.conn.Read(tmp)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return 0, context.DeadlineExceeded
			}
			return 0, err
		}
		f.pending = append(f.pending, tmp[:n]...)
	}
	n := min(len(buf), len(f.pending), 1+f.rnd.IntN(f.maxIn))
	copy(buf, f.pending[:n])
	f.pending = f.pending[n:]
	return n, nil
}

func (f *fakeEndpoints) WriteContext(ctx context.Context, buf []byte) (int, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, fmt.Errorf("fake: write without deadline")
	}
	_ = f.conn.SetWriteDeadline(dl)
	n := min(len(buf), 1+f.rnd.IntN(f.maxOut)) // short writes
	f.outs.Add(1)
	return f.conn.Write(buf[:n])
}

// echoServer answers with the sha256 and the body of each request, chunked or with a
// Content-Length as the request asks, and counts exchanges in flight per connection.
func echoServer(t *testing.T) (net.Listener, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var maxInFlight atomic.Int32
	var mu sync.Mutex
	inFlight := map[string]int{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight[r.RemoteAddr]++
		if n := int32(inFlight[r.RemoteAddr]); n > maxInFlight.Load() {
			maxInFlight.Store(n)
		}
		mu.Unlock()
		defer func() { mu.Lock(); inFlight[r.RemoteAddr]--; mu.Unlock() }()
		if d, err := time.ParseDuration(r.Header.Get("X-Sleep")); err == nil {
			time.Sleep(d)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(body)
		w.Header().Set("X-Sum", hex.EncodeToString(sum[:]))
		if r.Header.Get("X-Chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l, &maxInFlight
}

func fakeInterfaces(t *testing.T, addr string, n int, seed uint64) []IPPInterface {
	t.Helper()
	var out []IPPInterface
	for i := range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		f := &fakeEndpoints{conn: c, rnd: rand.New(rand.NewPCG(seed, uint64(i))), zlp: 0.2, maxIn: 700, maxOut: 3000}
		out = append(out, IPPInterface{In: f, Out: f})
	}
	return out
}

func TestIPPTransportExchanges(t *testing.T) {
	l, maxInFlight := echoServer(t)
	tr, err := NewIPPTransport(fakeInterfaces(t, l.Addr().String(), 2, 1), IPPOptions{TransferTimeout: 5 * time.Second, DrainTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	client := &http.Client{Transport: tr}

	tests := []struct {
		name    string
		size    int
		chunked bool // request body of unknown length, response chunked
	}{
		{name: "empty", size: 0},
		{name: "one byte", size: 1},
		{name: "packet edge", size: 512},
		{name: "packet edge plus one", size: 513},
		{name: "large chunked", size: 300 << 10, chunked: true},
		{name: "large sized", size: 300 << 10},
	}
	var wg sync.WaitGroup
	for round := range 3 { // rounds run in parallel over two interfaces
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tt := range tests {
				body := bytes.Repeat([]byte{byte(round), byte(tt.size)}, tt.size/2+1)[:tt.size]
				var rdr io.Reader = bytes.NewReader(body)
				if tt.chunked {
					rdr = io.MultiReader(rdr) // hides the length: chunked request
				}
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://localhost/ipp/print", rdr)
				if !assert.NoError(t, err) {
					return
				}
				if tt.chunked {
					req.Header.Set("X-Chunked", "1")
				}
				resp, err := client.Do(req)
				if !assert.NoError(t, err, tt.name) {
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.NoError(t, err, tt.name)
				sum := sha256.Sum256(body)
				assert.Equal(t, hex.EncodeToString(sum[:]), resp.Header.Get("X-Sum"), "%s: server saw other bytes", tt.name)
				assert.True(t, bytes.Equal(body, got), "%s: echo differs", tt.name)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), maxInFlight.Load(), "one exchange at a time per interface")
}

// A caller that gives up mid-exchange must not wreck the interface: the exchange is finished
// and drained, and the next request on the same (only) interface works.
func TestIPPTransportCallerGivesUp(t *testing.T) {
	l, _ := echoServer(t)
	tr, err := NewIPPTransport(fakeInterfaces(t, l.Addr().String(), 1, 2), IPPOptions{TransferTimeout: 5 * time.Second, DrainTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	client := &http.Client{Transport: tr}

	big := bytes.Repeat([]byte("x"), 200<<10)
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost/", bytes.NewReader(big))
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	buf := make([]byte, 1000)
	_, err = io.ReadFull(resp.Body, buf) // read a little, then give up
	require.NoError(t, err)
	cancel()
	resp.Body.Close()

	for i := range 3 {
		body := []byte(fmt.Sprintf("request %d", i))
		resp, err := client.Post("http://localhost/", "text/plain", bytes.NewReader(body))
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, body, got)
	}
}

// A caller that gives up before the answer: RoundTrip returns at once, the exchange is
// finished in the background, and the only interface is usable again afterwards.
func TestIPPTransportCancelBeforeAnswer(t *testing.T) {
	l, _ := echoServer(t)
	tr, err := NewIPPTransport(fakeInterfaces(t, l.Addr().String(), 1, 6), IPPOptions{TransferTimeout: 5 * time.Second, DrainTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost/", bytes.NewReader([]byte("slow")))
	require.NoError(t, err)
	req.Header.Set("X-Sleep", "300ms")
	start := time.Now()
	_, err = client.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 250*time.Millisecond, "caller is not held until the exchange ends")

	resp, err := client.Post("http://localhost/", "text/plain", bytes.NewReader([]byte("next")))
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "next", string(got), "the abandoned answer must not be taken for this one")
}

// Stale bytes left in the device from an earlier session are drained before first use.
func TestIPPTransportDrainsStaleInput(t *testing.T) {
	l, _ := echoServer(t)
	ifaces := fakeInterfaces(t, l.Addr().String(), 1, 3)
	f := ifaces[0].In.(*fakeEndpoints)
	f.pending = []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
	tr, err := NewIPPTransport(ifaces, IPPOptions{TransferTimeout: 5 * time.Second, DrainTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: tr}).Post("http://localhost/", "text/plain", bytes.NewReader([]byte("fresh")))
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "fresh", string(got))
}

// A device that never answers: every transfer has a deadline, so the caller gets an error.
func TestIPPTransportDeadAfterRequest(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c) // swallows requests, never answers
		}
	}()
	tr, err := NewIPPTransport(fakeInterfaces(t, l.Addr().String(), 1, 4), IPPOptions{TransferTimeout: 200 * time.Millisecond, DrainTimeout: 10 * time.Millisecond})
	require.NoError(t, err)
	start := time.Now()
	_, err = (&http.Client{Transport: tr}).Post("http://localhost/", "text/plain", bytes.NewReader([]byte("x")))
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// The IPP client over IPP-over-USB, against a real printer: ippeveprinter behind the fake
// endpoints. The spooled document is byte-identical to what was sent.
func TestIPPOverUSBPrintsOnRealPrinter(t *testing.T) {
	p := ipptest.Start(t, ipptest.Options{})
	host := p.URI[len("ipp://"):]
	host = host[:len(host)-len("/ipp/print")]
	tr, err := NewIPPTransport(fakeInterfaces(t, host, 2, 5), IPPOptions{TransferTimeout: 10 * time.Second, DrainTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	c, err := ipp.New(p.URI, ipp.Options{Transport: tr, PollInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	doc := bytes.Repeat([]byte("%PDF-1.7 koffer über USB\n"), 8000)
	res, err := c.Print(t.Context(), ipp.Document{Name: "usb", PDF: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(doc)), nil
	}}, nil)
	require.NoError(t, err, "log: %s", p.Log)
	got, err := os.ReadFile(p.JobFile(t, res.JobID))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(doc, got), "spooled file differs")
}
