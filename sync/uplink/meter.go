package uplink

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// linkMeter tells how many bytes the peer has acknowledged on the uplink's TCP connections:
// bytes written to the socket minus those still in the kernel's send queue (SIOCOUTQ). A
// request body handed to the kernel can take long to drain on a slow link with deep buffers;
// the stall watchdog counts acknowledgements as progress too, so a slow but moving link is
// not mistaken for a stalled one, and a dead one is still caught.
type linkMeter struct {
	mu    sync.Mutex
	conns map[*meteredConn]struct{}
}

func newLinkMeter() *linkMeter { return &linkMeter{conns: map[*meteredConn]struct{}{}} }

// dialer wraps every new connection so it can be metered.
func (m *linkMeter) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mc := &meteredConn{Conn: c, m: m}
		if sc, ok := c.(syscall.Conn); ok {
			mc.raw, _ = sc.SyscallConn()
		}
		m.mu.Lock()
		m.conns[mc] = struct{}{}
		m.mu.Unlock()
		return mc, nil
	}
}

// acked sums the acknowledged bytes of the open connections; ok is false where the kernel
// cannot say (then only the request body's progress counts).
func (m *linkMeter) acked() (total int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ok = true
	for c := range m.conns {
		n, cok := c.acked()
		total += n
		ok = ok && cok
	}
	return total, ok
}

type meteredConn struct {
	net.Conn
	m       *linkMeter
	raw     syscall.RawConn
	written atomic.Int64
}

func (c *meteredConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

func (c *meteredConn) Close() error {
	c.m.mu.Lock()
	delete(c.m.conns, c)
	c.m.mu.Unlock()
	return c.Conn.Close()
}

func (c *meteredConn) acked() (int64, bool) {
	if c.raw == nil {
		return 0, false
	}
	q, ok := sendQueue(c.raw)
	if !ok {
		return 0, false
	}
	return c.written.Load() - int64(q), true
}
