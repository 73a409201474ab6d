package uplink_test

import (
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

// sharedBandwidth is a toxiproxy toxic that gives all connections through a proxy one link of
// Rate kB/s between them, as a real uplink does. Toxiproxy's own bandwidth toxic limits each
// connection on its own: a kit streaming its next case on a second connection while the first
// one drains would get twice the link, and the benchmark would flatter the sync.
type sharedBandwidth struct {
	Rate int64 `json:"rate"`

	mu   sync.Mutex
	free time.Time // when the link has sent everything scheduled so far
}

func init() { toxics.Register("shared_bandwidth", new(sharedBandwidth)) }

func (t *sharedBandwidth) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case p := <-stub.Input:
			if p == nil {
				stub.Close()
				return
			}
			for len(p.Data) > 0 {
				n := min(int64(len(p.Data)), max(t.Rate*100, 1)) // at most 100 ms of the link at once
				at := t.reserve(n)
				select {
				case <-time.After(time.Until(at)):
					stub.Output <- &stream.StreamChunk{Data: p.Data[:n], Timestamp: p.Timestamp}
					p.Data = p.Data[n:]
				case <-stub.Interrupt:
					_ = stub.WriteOutput(p, 5*time.Second) // drop nothing
					return
				}
			}
		}
	}
}

// reserve books n bytes on the link and returns when they have been sent.
func (t *sharedBandwidth) reserve(n int64) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); t.free.Before(now) {
		t.free = now
	}
	if t.Rate > 0 {
		t.free = t.free.Add(time.Duration(n) * time.Millisecond / time.Duration(t.Rate))
	}
	return t.free
}
