package sim

import (
	"context"
	"image"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"koffer/devices/fingerprint"
)

// ReaderOptions tune the simulated fingerprint reader. The zero value answers at once with a
// clean print.
type ReaderOptions struct {
	// Seed varies the synthetic prints (0 is a valid seed).
	Seed uint64
	// Delay is how long the simulated finger takes to arrive.
	Delay time.Duration
	// Errors, by capture number from 1, make that capture fail (training: "finger too short").
	Errors map[int]error
	// Noise from 0 (clean) to 1 (unusable) lowers the quality of every print.
	Noise float64
}

// Reader is a simulated fingerprint reader for training mode and demos: it draws a
// synthetic loop pattern of ridges at 500 ppi. It is chosen explicitly, never used in place
// of a missing real reader.
type Reader struct {
	opts  ReaderOptions
	mu    sync.Mutex
	calls int
}

var _ fingerprint.Reader = (*Reader)(nil)

// ReaderWidth and ReaderHeight are the size of the simulated prints.
const (
	ReaderWidth  = 320
	ReaderHeight = 400
)

// NewReader returns a simulated reader.
func NewReader(opts ReaderOptions) *Reader { return &Reader{opts: opts} }

// Capture waits Delay (or until ctx ends) and returns the next synthetic print.
func (r *Reader) Capture(ctx context.Context) (*fingerprint.Image, error) {
	r.mu.Lock()
	r.calls++
	n := r.calls
	r.mu.Unlock()
	if r.opts.Delay > 0 {
		t := time.NewTimer(r.opts.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, fingerprint.TransferFail("sim reader: wait for finger", ctx.Err())
		}
	}
	if err := r.opts.Errors[n]; err != nil {
		return nil, err
	}
	return &fingerprint.Image{Gray: r.draw(n), PPI: 500}, nil
}

func (r *Reader) draw(n int) *image.Gray {
	rng := rand.New(rand.NewPCG(r.opts.Seed, uint64(n)))
	w, h := ReaderWidth, ReaderHeight
	g := image.NewGray(image.Rect(0, 0, w, h))
	cx := float64(w)/2 + rng.Float64()*30 - 15
	cy := float64(h)*0.45 + rng.Float64()*30 - 15
	period := 8.5 + rng.Float64()
	rx, ry := float64(w)*0.38, float64(h)*0.42
	for y := range h {
		for x := range w {
			dx, dy := float64(x)-cx, float64(y)-cy
			v := 235.0 // background: bright, as an optical reader shows it
			if (dx*dx)/(rx*rx)+(dy*dy)/(ry*ry) <= 1 {
				// A loop: ridges circle the core above it and run down on both sides below
				// it, blended smoothly; a slow warp keeps them from looking drawn.
				rad := math.Hypot(dx, dy*0.8)
				if dy > 0 {
					k := math.Min(1, dy/60)
					k = k * k * (3 - 2*k)
					rad = rad*(1-k) + (math.Abs(dx)*0.95+dy*0.2+12)*k
				}
				rad += 3 * math.Sin(float64(x)/37+float64(y)/53)
				v = 128 + 90*math.Sin(2*math.Pi*rad/period)
				if r.opts.Noise > 0 {
					v = v*(1-r.opts.Noise) + rng.Float64()*255*r.opts.Noise
				}
			}
			g.Pix[y*g.Stride+x] = uint8(math.Max(0, math.Min(255, v)))
		}
	}
	return g
}
