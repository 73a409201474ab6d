package fingerprint

import (
	"context"
	"math"
)

// Estimate is koffer's built-in quality estimate for readers without NFIQ 2: on blocks of
// the image it measures orientation certainty (how strongly the gradients agree on one ridge
// direction) and ridge clarity (gray-level contrast), and weighs them by how much of the image
// the finger covers. It is labelled MethodEstimate and must never be presented as NFIQ 2; it
// only drives the retry hint.
type Estimate struct {
	// Block is the side of a block in pixels (default 16, about two ridges at 500 ppi).
	Block int
}

var _ Scorer = Estimate{}

// Score rates img from 0 (nothing usable) to 100.
func (e Estimate) Score(ctx context.Context, img *Image) (Score, error) {
	if err := ctx.Err(); err != nil {
		return Score{}, err
	}
	return Score{Value: e.value(img), Method: MethodEstimate}, nil
}

const (
	minBlockStdDev  = 6.0  // below: background or a smudge
	goodBlockStdDev = 16.0 // contrast at which clarity counts fully
	goodCoverage    = 0.25 // share of blocks a well-placed flat finger covers
)

func (e Estimate) value(img *Image) int {
	bs := e.Block
	if bs <= 0 {
		bs = 16
	}
	g := img.Gray
	w, h := g.Rect.Dx(), g.Rect.Dy()
	total, fg := 0, 0
	var sum float64
	for by := 0; by+bs <= h; by += bs {
		for bx := 0; bx+bs <= w; bx += bs {
			total++
			var mean, sq float64
			for y := by; y < by+bs; y++ {
				row := g.Pix[y*g.Stride+bx : y*g.Stride+bx+bs]
				for _, v := range row {
					f := float64(v)
					mean += f
					sq += f * f
				}
			}
			n := float64(bs * bs)
			mean /= n
			std := math.Sqrt(math.Max(0, sq/n-mean*mean))
			if std < minBlockStdDev {
				continue
			}
			// Structure tensor from central differences inside the block.
			var gxx, gyy, gxy float64
			for y := by + 1; y < by+bs-1; y++ {
				for x := bx + 1; x < bx+bs-1; x++ {
					dx := float64(g.Pix[y*g.Stride+x+1]) - float64(g.Pix[y*g.Stride+x-1])
					dy := float64(g.Pix[(y+1)*g.Stride+x]) - float64(g.Pix[(y-1)*g.Stride+x])
					gxx += dx * dx
					gyy += dy * dy
					gxy += dx * dy
				}
			}
			if gxx+gyy == 0 {
				continue
			}
			certainty := math.Sqrt((gxx-gyy)*(gxx-gyy)+4*gxy*gxy) / (gxx + gyy)
			clarity := math.Min(1, std/goodBlockStdDev)
			fg++
			sum += certainty * clarity
		}
	}
	if total == 0 || fg == 0 {
		return 0
	}
	coverage := math.Min(1, float64(fg)/float64(total)/goodCoverage)
	v := 100 * (sum / float64(fg)) * math.Sqrt(coverage)
	return int(math.Round(math.Max(0, math.Min(100, v))))
}
