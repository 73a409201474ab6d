package fingerprint

import (
	"context"
	"errors"
	"image"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/devices/usb"
)

// fakeReader hands out one image per capture, or the scripted error.
type fakeReader struct {
	errs  map[int]error // by capture number, from 1
	calls int
}

var _ Reader = (*fakeReader)(nil)

func (r *fakeReader) Capture(ctx context.Context) (*Image, error) {
	r.calls++
	if err := r.errs[r.calls]; err != nil {
		return nil, err
	}
	g := image.NewGray(image.Rect(0, 0, 4, 4))
	g.Pix[0] = byte(r.calls) // tells the images apart
	return &Image{Gray: g, PPI: 500}, nil
}

// fakeScorer scores captures in order.
type fakeScorer struct {
	method Method
	values []int
	next   int
}

var _ Scorer = (*fakeScorer)(nil)

func (s *fakeScorer) Score(ctx context.Context, img *Image) (Score, error) {
	v := s.values[s.next%len(s.values)]
	s.next++
	return Score{Value: v, Method: s.method}, nil
}

// fakeOperator skips the fingers in skip and answers Accept with accept.
type fakeOperator struct {
	skip     map[Finger]Reason
	accept   bool
	asked    []Finger
	accepted []Attempt
}

var _ Operator = (*fakeOperator)(nil)

func (o *fakeOperator) Skip(ctx context.Context, f Finger) (Reason, error) {
	o.asked = append(o.asked, f)
	return o.skip[f], nil
}

func (o *fakeOperator) Accept(ctx context.Context, f Finger, best Attempt) (bool, error) {
	o.accepted = append(o.accepted, best)
	return o.accept, nil
}

type fakeMatcher struct{ same func(a, b *Image) bool }

var _ Matcher = fakeMatcher{}

func (m fakeMatcher) Same(ctx context.Context, a, b *Image) (bool, error) { return m.same(a, b), nil }

func fingers(ps []Print) []Finger {
	out := make([]Finger, len(ps))
	for i, p := range ps {
		out[i] = p.Finger
	}
	return out
}

func reasons(ds []Decision) map[Finger]Reason {
	out := map[Finger]Reason{}
	for _, d := range ds {
		out[d.Finger] = d.Reason
	}
	return out
}

func TestProcedure(t *testing.T) {
	unplugged := Fail(CodeUnplugged, usb.ErrUnplugged)
	tests := []struct {
		name         string
		age          int
		scores       []int
		method       Method
		skip         map[Finger]Reason
		accept       bool
		readerErrs   map[int]error
		matcher      Matcher
		wantFingers  []Finger
		wantCaptures int
		wantReasons  map[Finger]Reason
		wantAsked    int // Accept calls
		wantErr      string
	}{
		{
			name: "both index fingers good", age: 40, scores: []int{55}, method: MethodNFIQ2,
			wantFingers: []Finger{RightIndex, LeftIndex}, wantCaptures: 2, wantReasons: map[Finger]Reason{},
		},
		{
			name: "child under 6 gives no prints", age: 5, scores: []int{80}, method: MethodNFIQ2,
			wantFingers: []Finger{}, wantCaptures: 0, wantReasons: map[Finger]Reason{UnknownFinger: ReasonUnder6},
		},
		{
			name: "missing right index falls back to thumb", age: 30, scores: []int{60}, method: MethodNFIQ2,
			skip:        map[Finger]Reason{RightIndex: ReasonMissing},
			wantFingers: []Finger{RightThumb, LeftIndex}, wantCaptures: 2,
			wantReasons: map[Finger]Reason{RightIndex: ReasonMissing},
		},
		{
			name: "fallback order thumb middle ring, never little", age: 30, scores: []int{60}, method: MethodNFIQ2,
			skip:        map[Finger]Reason{RightIndex: ReasonInjured, RightThumb: ReasonMissing, RightMiddle: ReasonInjured},
			wantFingers: []Finger{RightRing, LeftIndex}, wantCaptures: 2,
			wantReasons: map[Finger]Reason{RightIndex: ReasonInjured, RightThumb: ReasonMissing, RightMiddle: ReasonInjured},
		},
		{
			name: "three attempts then operator declines, next finger", age: 30, method: MethodNFIQ2,
			// right index: 10, 12, 11 (below 30); right thumb: 40; left index: 50
			scores: []int{10, 12, 11, 40, 50}, accept: false,
			wantFingers: []Finger{RightThumb, LeftIndex}, wantCaptures: 5, wantAsked: 1,
			wantReasons: map[Finger]Reason{RightIndex: ReasonPoorQuality},
		},
		{
			name: "best of three kept when operator accepts", age: 30, method: MethodNFIQ2,
			scores: []int{10, 25, 20, 90}, accept: true,
			wantFingers: []Finger{RightIndex, LeftIndex}, wantCaptures: 4, wantAsked: 1,
			wantReasons: map[Finger]Reason{RightIndex: ReasonAccepted},
		},
		{
			name: "ring threshold is 10", age: 30, method: MethodNFIQ2, scores: []int{12},
			skip:        map[Finger]Reason{RightIndex: ReasonMissing, RightThumb: ReasonMissing, RightMiddle: ReasonMissing, LeftIndex: ReasonMissing, LeftThumb: ReasonMissing, LeftMiddle: ReasonMissing},
			wantFingers: []Finger{RightRing, LeftRing}, wantCaptures: 2,
			wantReasons: map[Finger]Reason{RightIndex: ReasonMissing, RightThumb: ReasonMissing, RightMiddle: ReasonMissing, LeftIndex: ReasonMissing, LeftThumb: ReasonMissing, LeftMiddle: ReasonMissing},
		},
		{
			name: "only one hand: that print is stored", age: 70, method: MethodNFIQ2, scores: []int{45},
			skip:        map[Finger]Reason{LeftIndex: ReasonMissing, LeftThumb: ReasonMissing, LeftMiddle: ReasonMissing, LeftRing: ReasonMissing},
			wantFingers: []Finger{RightIndex}, wantCaptures: 1,
			wantReasons: map[Finger]Reason{LeftIndex: ReasonMissing, LeftThumb: ReasonMissing, LeftMiddle: ReasonMissing, LeftRing: ReasonMissing},
		},
		{
			name: "estimate never meets the NFIQ 2 threshold: operator decides", age: 30, method: MethodEstimate,
			scores: []int{90}, accept: true,
			wantFingers: []Finger{RightIndex, LeftIndex}, wantCaptures: 2, wantAsked: 2,
			wantReasons: map[Finger]Reason{RightIndex: ReasonAccepted, LeftIndex: ReasonAccepted},
		},
		{
			name: "low estimate retries up to three", age: 30, method: MethodEstimate,
			scores: []int{5, 20, 10, 80}, accept: true,
			wantFingers: []Finger{RightIndex, LeftIndex}, wantCaptures: 4, wantAsked: 2,
			wantReasons: map[Finger]Reason{RightIndex: ReasonAccepted, LeftIndex: ReasonAccepted},
		},
		{
			name: "failed swipe counts as attempt", age: 30, method: MethodNFIQ2, scores: []int{70},
			readerErrs:  map[int]error{1: Failf(CodeRetry, "too short"), 2: Failf(CodeNoFinger, "none")},
			wantFingers: []Finger{RightIndex, LeftIndex}, wantCaptures: 4, wantReasons: map[Finger]Reason{},
		},
		{
			name: "three failed attempts: next finger", age: 30, method: MethodNFIQ2, scores: []int{70},
			readerErrs:  map[int]error{1: Failf(CodeRetry, "x"), 2: Failf(CodeRetry, "x"), 3: Failf(CodeRetry, "x")},
			wantFingers: []Finger{RightThumb, LeftIndex}, wantCaptures: 5,
			wantReasons: map[Finger]Reason{RightIndex: ReasonNoUsable},
		},
		{
			name: "unplugged reader ends the run", age: 30, method: MethodNFIQ2, scores: []int{70},
			readerErrs: map[int]error{2: unplugged}, wantErr: CodeUnplugged,
		},
		{
			name: "repeated finger rejected", age: 30, method: MethodNFIQ2, scores: []int{70},
			// capture 2 (left index, first try) is the right index again
			matcher:     fakeMatcher{same: func(a, b *Image) bool { return a.Gray.Pix[0] == 1 && b.Gray.Pix[0] == 2 }},
			wantFingers: []Finger{RightIndex, LeftIndex}, wantCaptures: 3,
			wantReasons: map[Finger]Reason{LeftIndex: ReasonRepeated},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader := &fakeReader{errs: tt.readerErrs}
			op := &fakeOperator{skip: tt.skip, accept: tt.accept}
			p := &Procedure{
				Reader: reader, Scorer: &fakeScorer{method: tt.method, values: tt.scores},
				Operator: op, Matcher: tt.matcher,
				Now:    func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) },
				Logger: quiet,
			}
			res, err := p.Run(t.Context(), tt.age)
			if tt.wantErr != "" {
				assert.True(t, IsCode(err, tt.wantErr), "got %v", err)
				assert.Nil(t, res)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantFingers, append([]Finger{}, fingers(res.Prints)...))
			assert.Equal(t, tt.wantCaptures, reader.calls)
			assert.Equal(t, tt.wantReasons, reasons(res.Decisions))
			assert.Len(t, op.accepted, tt.wantAsked)
			for _, f := range op.asked {
				assert.NotEqual(t, Little, f.Digit(), "little finger must never be asked for")
			}
			for _, pr := range res.Prints {
				assert.LessOrEqual(t, pr.Attempts, MaxAttempts)
			}
		})
	}
}

func TestProcedureKeepsBestAttempt(t *testing.T) {
	op := &fakeOperator{accept: true}
	reader := &fakeReader{}
	p := &Procedure{Reader: reader, Scorer: &fakeScorer{method: MethodNFIQ2, values: []int{10, 25, 20, 90}}, Operator: op, Logger: quiet}
	res, err := p.Run(t.Context(), 30)
	require.NoError(t, err)
	require.Len(t, res.Prints, 2)
	assert.Equal(t, 25, res.Prints[0].Score.Value)
	assert.Equal(t, byte(2), res.Prints[0].Image.Gray.Pix[0], "the second capture was the best")
	assert.True(t, res.Prints[0].ByOperator)
	assert.False(t, res.Prints[1].ByOperator)
	assert.Equal(t, 25, op.accepted[0].Score.Value, "operator is shown the best attempt")
}

func TestCaptureFingerRefusesLittle(t *testing.T) {
	p := &Procedure{Reader: &fakeReader{}, Operator: &fakeOperator{}, Logger: quiet}
	for _, f := range []Finger{RightLittle, LeftLittle} {
		_, err := p.CaptureFinger(t.Context(), f)
		assert.True(t, IsCode(err, CodeProcedure), "%s: %v", f, err)
	}
	a, err := p.CaptureFinger(t.Context(), LeftMiddle)
	require.NoError(t, err)
	assert.Equal(t, MethodEstimate, a.Score.Method, "without NFIQ 2 the score is labelled an estimate")
}

func TestResultErr(t *testing.T) {
	assert.NoError(t, (&Result{Exempt: ReasonUnder6}).Err())
	assert.True(t, IsCode((&Result{}).Err(), CodeProcedure))
	assert.NoError(t, (&Result{Prints: []Print{{Finger: LeftRing}}}).Err())
}

func TestSufficientOnlyForNFIQ2(t *testing.T) {
	tests := []struct {
		name string
		s    Score
		f    Finger
		want bool
	}{
		{name: "index 30", s: Score{30, MethodNFIQ2}, f: RightIndex, want: true},
		{name: "index 29", s: Score{29, MethodNFIQ2}, f: LeftIndex, want: false},
		{name: "thumb 30", s: Score{30, MethodNFIQ2}, f: LeftThumb, want: true},
		{name: "middle 20", s: Score{20, MethodNFIQ2}, f: RightMiddle, want: true},
		{name: "middle 19", s: Score{19, MethodNFIQ2}, f: RightMiddle, want: false},
		{name: "ring 10", s: Score{10, MethodNFIQ2}, f: LeftRing, want: true},
		{name: "little never", s: Score{100, MethodNFIQ2}, f: LeftLittle, want: false},
		{name: "estimate never", s: Score{100, MethodEstimate}, f: RightIndex, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Sufficient(tt.s, tt.f))
		})
	}
}

func TestFingerCodes(t *testing.T) {
	assert.Equal(t, RightIndex, FingerOf(Right, Index))
	assert.Equal(t, LeftIndex, FingerOf(Left, Index))
	assert.Equal(t, Finger(7), LeftIndex, "ISO/IEC 19794-4 code of the left index")
	assert.Equal(t, Left, LeftRing.Hand())
	assert.Equal(t, Ring, LeftRing.Digit())
	assert.Equal(t, "linker Zeigefinger", LeftIndex.German())
	assert.False(t, UnknownFinger.Valid())
}

func TestTransferFail(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
	}{
		{name: "unplugged", err: usb.ErrUnplugged, code: CodeUnplugged},
		{name: "timeout", err: usb.ErrTimeout, code: CodeTimeout},
		{name: "stall", err: usb.ErrStall, code: CodeStall},
		{name: "other", err: errors.New("io"), code: CodeDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := TransferFail("x", tt.err)
			assert.True(t, IsCode(err, tt.code), "%v", err)
			assert.ErrorIs(t, err, tt.err)
		})
	}
	assert.ErrorIs(t, TransferFail("x", context.Canceled), context.Canceled)
	assert.False(t, IsCode(TransferFail("x", context.Canceled), CodeDevice))
}

var quiet = slog.New(slog.DiscardHandler)
