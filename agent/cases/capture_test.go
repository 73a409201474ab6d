package cases

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"koffer/devices/fingerprint"
)

func TestHands(t *testing.T) {
	att := func(f string, q ...int) []FingerAttempt {
		var out []FingerAttempt
		for _, x := range q {
			out = append(out, FingerAttempt{Finger: f, Quality: x, Method: MethodNFIQ2})
		}
		return out
	}
	cat := func(a ...[]FingerAttempt) []FingerAttempt {
		var out []FingerAttempt
		for _, x := range a {
			out = append(out, x...)
		}
		return out
	}
	tests := []struct {
		name      string
		attempts  []FingerAttempt
		decisions []FingerDecision
		want      HandState // only the compared fields
	}{
		{name: "fresh starts with the index finger", want: HandState{Status: HandOpen, Finger: "left_index", AttemptsLeft: 3, Threshold: 30}},
		{name: "good first attempt", attempts: att("left_index", 55), want: HandState{Status: HandCaptured, Finger: "left_index", AttemptsLeft: 2, Threshold: 30, Best: 55}},
		{name: "threshold is inclusive", attempts: att("left_index", 30), want: HandState{Status: HandCaptured, Finger: "left_index", AttemptsLeft: 2, Threshold: 30, Best: 30}},
		{name: "two poor attempts leave one", attempts: att("left_index", 10, 29), want: HandState{Status: HandOpen, Finger: "left_index", AttemptsLeft: 1, Threshold: 30, Best: 29}},
		{name: "three poor attempts need a decision", attempts: att("left_index", 10, 12, 20), want: HandState{Status: HandDecide, Finger: "left_index", AttemptsLeft: 0, Threshold: 30, Best: 20}},
		{name: "operator accepts the best", attempts: att("left_index", 10, 12, 20),
			decisions: []FingerDecision{{Hand: "left", Finger: "left_index", Action: FingerAccept}},
			want:      HandState{Status: HandCaptured, Finger: "left_index", Threshold: 30, Best: 20, Operator: true}},
		{name: "next finger is the thumb", attempts: att("left_index", 10, 12, 20),
			decisions: []FingerDecision{{Hand: "left", Finger: "left_index", Action: FingerSkip, Reason: "injured"}},
			want:      HandState{Status: HandOpen, Finger: "left_thumb", AttemptsLeft: 3, Threshold: 30, Best: -1}},
		{name: "middle finger has threshold 20", attempts: cat(att("left_middle", 21)),
			decisions: []FingerDecision{{Hand: "left", Finger: "left_index", Action: FingerSkip, Reason: "missing"}, {Hand: "left", Finger: "left_thumb", Action: FingerSkip, Reason: "missing"}},
			want:      HandState{Status: HandCaptured, Finger: "left_middle", AttemptsLeft: 2, Threshold: 20, Best: 21}},
		{name: "ring finger has threshold 10", attempts: att("left_ring", 10),
			decisions: []FingerDecision{{Hand: "left", Finger: "left_index", Action: FingerSkip, Reason: "missing"}, {Hand: "left", Finger: "left_thumb", Action: FingerSkip, Reason: "missing"}, {Hand: "left", Finger: "left_middle", Action: FingerSkip, Reason: "missing"}},
			want:      HandState{Status: HandCaptured, Finger: "left_ring", AttemptsLeft: 2, Threshold: 10, Best: 10}},
		{name: "never the little finger", decisions: []FingerDecision{
			{Hand: "left", Finger: "left_index", Action: FingerSkip, Reason: "missing"}, {Hand: "left", Finger: "left_thumb", Action: FingerSkip, Reason: "missing"},
			{Hand: "left", Finger: "left_middle", Action: FingerSkip, Reason: "missing"}, {Hand: "left", Finger: "left_ring", Action: FingerSkip, Reason: "injured"}},
			want: HandState{Status: HandNone, Reason: "injured"}},
		{name: "no finger of this hand", decisions: []FingerDecision{{Hand: "left", Finger: "left_index", Action: FingerNone, Reason: "missing"}},
			want: HandState{Status: HandNone, Reason: "missing"}},
		{name: "an estimate never reaches the threshold", attempts: []FingerAttempt{{Finger: "left_index", Quality: 90, Method: MethodEstimate}},
			want: HandState{Status: HandOpen, Finger: "left_index", AttemptsLeft: 2, Threshold: 30, Best: 90}},
		{name: "three estimates leave it to the operator", attempts: []FingerAttempt{{Finger: "left_index", Quality: 90, Method: MethodEstimate},
			{Finger: "left_index", Quality: 80, Method: MethodEstimate}, {Finger: "left_index", Quality: 85, Method: MethodEstimate}},
			want: HandState{Status: HandDecide, Finger: "left_index", AttemptsLeft: 0, Threshold: 30, Best: 90}},
		{name: "the other hand does not count", attempts: att("right_index", 90), want: HandState{Status: HandOpen, Finger: "left_index", AttemptsLeft: 3, Threshold: 30, Best: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Capture{Attempts: tt.attempts, Decisions: tt.decisions}.Hands()[0]
			assert.Equal(t, "left", got.Hand)
			assert.Equal(t, tt.want.Status, got.Status)
			assert.Equal(t, tt.want.Finger, got.Finger)
			assert.Equal(t, tt.want.Reason, got.Reason)
			assert.Equal(t, tt.want.Operator, got.Operator)
			if got.Status != HandNone {
				assert.Equal(t, tt.want.Threshold, got.Threshold)
				if tt.want.Best != 0 {
					assert.Equal(t, tt.want.Best, got.Best)
				}
				if got.Status != HandCaptured || !got.Operator {
					assert.Equal(t, tt.want.AttemptsLeft, got.AttemptsLeft)
				}
			}
		})
	}
}

func TestCheckFingerAction(t *testing.T) {
	c := Capture{Attempts: []FingerAttempt{{Finger: "right_index", Quality: 5, Method: MethodNFIQ2},
		{Finger: "right_index", Quality: 5, Method: MethodNFIQ2}, {Finger: "right_index", Quality: 5, Method: MethodNFIQ2}}}
	tests := []struct {
		name, action, finger, reason string
		ok                           bool
	}{
		{name: "capture current", action: "capture", finger: "left_index", ok: true},
		{name: "capture out of turn", action: "capture", finger: "left_thumb"},
		{name: "capture after three attempts", action: "capture", finger: "right_index"},
		{name: "accept after three", action: FingerAccept, finger: "right_index", ok: true},
		{name: "accept without attempts", action: FingerAccept, finger: "left_index"},
		{name: "little finger", action: "capture", finger: "left_little"},
		{name: "unknown hand", action: "capture", finger: "third_index"},
		{name: "skip needs a reason", action: FingerSkip, finger: "left_index"},
		{name: "skip with a reason", action: FingerSkip, finger: "left_index", reason: "injured", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p := c.CheckAction(tt.action, tt.finger, tt.reason)
			assert.Equal(t, tt.ok, p == nil, "%v", p)
		})
	}
}

func TestFingerPosition(t *testing.T) {
	for f, want := range map[string]fingerprint.Finger{"right_index": fingerprint.RightIndex, "left_thumb": fingerprint.LeftThumb,
		"left_ring": fingerprint.LeftRing, "right_little": fingerprint.RightLittle} {
		got, ok := FingerPosition(f)
		assert.True(t, ok, f)
		assert.Equal(t, want, got, f)
	}
	_, ok := FingerPosition("third_index")
	assert.False(t, ok)
}
