package fingerprint

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Method says how a quality score was obtained.
type Method string

const (
	// MethodNFIQ2 is a score of the NIST NFIQ 2 tool (ISO/IEC 29794-4), 0-100.
	MethodNFIQ2 Method = "nfiq2"
	// MethodEstimate is koffer's built-in estimate, 0-100. It is NOT NFIQ 2: it only tells
	// the caseworker whether another attempt is likely to help.
	MethodEstimate Method = "estimate"
)

// Score is a quality score with how it was obtained.
type Score struct {
	Value  int
	Method Method
}

func (s Score) String() string {
	if s.Method == MethodEstimate {
		return fmt.Sprintf("%d (Schätzung, kein NFIQ 2)", s.Value)
	}
	return fmt.Sprintf("%d (NFIQ 2)", s.Value)
}

// Scorer rates a finger image.
type Scorer interface {
	Score(ctx context.Context, img *Image) (Score, error)
}

// Thresholds are the minimum NFIQ 2 scores TR-03121 asks of plain prints; the little finger
// is never taken. They apply to NFIQ 2 scores only.
var Thresholds = map[Digit]int{Thumb: 30, Index: 30, Middle: 20, Ring: 10}

// EstimateRetryBelow is where the built-in estimate suggests another attempt.
const EstimateRetryBelow = 30

// Sufficient reports whether s meets the TR-03121 threshold for f. Only NFIQ 2 scores can.
func Sufficient(s Score, f Finger) bool {
	t, ok := Thresholds[f.Digit()]
	return ok && s.Method == MethodNFIQ2 && s.Value >= t
}

// RetryHint reports whether another attempt is worth asking for: below the threshold for an
// NFIQ 2 score, below EstimateRetryBelow for an estimate.
func RetryHint(s Score, f Finger) bool {
	if s.Method == MethodNFIQ2 {
		return !Sufficient(s, f)
	}
	return s.Value < EstimateRetryBelow
}

// NFIQ2 scores images with the NIST nfiq2 command-line tool.
type NFIQ2 struct {
	// Path of the nfiq2 binary; empty looks it up in PATH.
	Path string
	// Timeout per image (default 10 s).
	Timeout time.Duration
}

var _ Scorer = (*NFIQ2)(nil)

// FindNFIQ2 returns an NFIQ 2 scorer when the tool is installed.
func FindNFIQ2() (*NFIQ2, bool) {
	p, err := exec.LookPath("nfiq2")
	if err != nil {
		return nil, false
	}
	return &NFIQ2{Path: p}, true
}

// Score writes the image to a private temporary PNG and asks nfiq2 for its score. -F lets
// the tool resample images that are not 500 ppi instead of asking on the terminal.
func (n *NFIQ2) Score(ctx context.Context, img *Image) (Score, error) {
	path := n.Path
	if path == "" {
		path = "nfiq2"
	}
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dir, err := os.MkdirTemp("", "koffer-nfiq2-")
	if err != nil {
		return Score{}, fmt.Errorf("nfiq2: %w", err)
	}
	defer os.RemoveAll(dir) // biometric data: never left behind
	file := filepath.Join(dir, "finger.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img.Gray); err != nil {
		return Score{}, fmt.Errorf("nfiq2: encode: %w", err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		return Score{}, fmt.Errorf("nfiq2: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-F", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Score{}, fmt.Errorf("nfiq2: run: %w (%s)", err, strings.TrimSpace(stderr.String()))
	}
	// With one image and no -v/-q, nfiq2 prints the score alone.
	v, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || v < 0 || v > 100 {
		return Score{}, fmt.Errorf("nfiq2: unexpected output %q", strings.TrimSpace(string(out)))
	}
	return Score{Value: v, Method: MethodNFIQ2}, nil
}
