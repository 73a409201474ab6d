package cases

import (
	"fmt"
	"strings"

	"koffer/devices/fingerprint"
)

// The fingerprint capture procedure of BSI TR-03121-3 Vol. 2 as a case records it, one step at
// a time: per hand the index finger first, then thumb, middle and ring finger (never the little
// finger), at most MaxAttempts attempts per finger, NFIQ 2 thresholds per finger kind, and the
// operator decides last. The state is derived from the recorded attempts and decisions only, so
// a reload or a crash resumes exactly where the capture stood, and the same record goes into the
// packet. devices/fingerprint.Procedure runs the same rules as one blocking call for the CLI.

// Capture is the record of a fingerprint capture: every attempt and every operator decision, in
// order. It is sealed into the packet as details.fingerprint_capture.
type Capture struct {
	Attempts  []FingerAttempt  `json:"attempts"`
	Decisions []FingerDecision `json:"decisions"`
}

// FingerAttempt is one capture try with its quality score.
type FingerAttempt struct {
	Finger  string `json:"finger"`  // "right_index"
	Quality int    `json:"quality"` // 0-100
	Method  string `json:"method"`  // MethodNFIQ2 or MethodEstimate
}

// Quality methods: only an NFIQ 2 score can reach a threshold; the built-in estimate says
// plainly it is not NFIQ 2, so the operator decides.
const (
	MethodNFIQ2    = string(fingerprint.MethodNFIQ2)
	MethodEstimate = string(fingerprint.MethodEstimate)
)

// FingerDecision is the operator's word on a finger.
type FingerDecision struct {
	Hand   string `json:"hand"`   // left, right
	Finger string `json:"finger"` // the finger the decision is about
	Action string `json:"action"` // FingerAccept, FingerSkip, FingerNone
	Reason string `json:"reason,omitempty"`
}

// Operator decisions.
const (
	FingerAccept = "accept" // keep the best attempt although below the threshold
	FingerSkip   = "next"   // this finger cannot be used, try the next one
	FingerNone   = "none"   // no finger of this hand can be taken
)

// FingerReason is why a finger is skipped: a stable code and what the caseworker reads.
type FingerReason struct{ Code, German string }

// FingerReasons are the reasons an operator may give for skipping a finger or a hand.
var FingerReasons = []FingerReason{
	{string(fingerprint.ReasonMissing), "Finger fehlt"},
	{string(fingerprint.ReasonInjured), "Finger verletzt oder verbunden"},
	{string(fingerprint.ReasonPoorQuality), "Abdruck nicht lesbar (Qualität)"},
	{"other", "Anderer Grund"},
}

// ReasonGerman is the German label of a reason code ("" for an unknown one).
func ReasonGerman(code string) string {
	for _, r := range FingerReasons {
		if r.Code == code {
			return r.German
		}
	}
	return ""
}

// Hand states.
const (
	HandOpen     = "open"     // capture the current finger
	HandDecide   = "decide"   // attempts used up below the threshold: the operator decides
	HandCaptured = "captured" // a finger is taken
	HandNone     = "none"     // no finger of this hand can be taken
)

// HandState is where the procedure stands for one hand.
type HandState struct {
	Hand         string
	Status       string
	Finger       string // current finger (open, decide) or the captured one
	AttemptsLeft int
	Threshold    int
	Attempts     []FingerAttempt // of the current or captured finger
	Best         int             // best quality of the current or captured finger, -1 before any
	Method       string          // how Best was scored
	Operator     bool            // captured below the threshold (or on an estimate) by decision
	Reason       string          // why none
	Skipped      []FingerDecision
}

// Resolved reports whether nothing more needs to be done for this hand.
func (h HandState) Resolved() bool { return h.Status == HandCaptured || h.Status == HandNone }

// Hands is the procedure state of the left and the right hand.
func (c Capture) Hands() []HandState {
	return []HandState{c.hand("left"), c.hand("right")}
}

// sufficient is the threshold rule of devices/fingerprint (fingerprint.Sufficient): only an
// NFIQ 2 score at the finger's threshold reaches it.
func sufficient(a FingerAttempt) bool {
	pos, ok := FingerPosition(a.Finger)
	return ok && fingerprint.Sufficient(fingerprint.Score{Value: a.Quality, Method: fingerprint.Method(a.Method)}, pos)
}

func (c Capture) decided(hand, finger, action string) (FingerDecision, bool) {
	for _, d := range c.Decisions {
		if d.Hand == hand && d.Finger == finger && d.Action == action {
			return d, true
		}
	}
	return FingerDecision{}, false
}

func (c Capture) hand(hand string) HandState {
	st := HandState{Hand: hand}
	for _, kind := range FingerOrder {
		f := hand + "_" + kind
		if d, ok := c.decided(hand, f, FingerNone); ok {
			st.Status, st.Finger, st.Reason = HandNone, "", d.Reason
			return st
		}
		if d, ok := c.decided(hand, f, FingerSkip); ok {
			st.Skipped = append(st.Skipped, d)
			continue
		}
		best, good := -1, false
		var mine []FingerAttempt
		for _, a := range c.Attempts {
			if a.Finger != f {
				continue
			}
			mine = append(mine, a)
			if a.Quality > best {
				best, st.Method = a.Quality, a.Method
			}
			good = good || sufficient(a)
		}
		st.Finger, st.Attempts, st.Best, st.Threshold = f, mine, best, NFIQThreshold[kind]
		st.AttemptsLeft = max(0, MaxAttempts-len(mine))
		switch _, accepted := c.decided(hand, f, FingerAccept); {
		case good:
			st.Status = HandCaptured
		case accepted && len(mine) > 0:
			st.Status, st.Operator = HandCaptured, true
		case len(mine) >= MaxAttempts:
			st.Status = HandDecide
		default:
			st.Status = HandOpen
		}
		return st
	}
	st.Status, st.Finger = HandNone, ""
	if n := len(st.Skipped); n > 0 {
		st.Reason = st.Skipped[n-1].Reason
	}
	return st
}

// Done reports whether both hands are resolved.
func (c Capture) Done() bool {
	for _, h := range c.Hands() {
		if !h.Resolved() {
			return false
		}
	}
	return true
}

// NoneTaken reports whether the record is complete and no hand gave a finger.
func (c Capture) NoneTaken() bool {
	for _, h := range c.Hands() {
		if h.Status != HandNone {
			return false
		}
	}
	return true
}

// Actions an operator may take, for CheckAction.
const ActionCapture = "capture"

// CheckAction checks whether action on finger is allowed now. The error's Hint says in German
// why not.
func (c Capture) CheckAction(action, finger, reason string) (HandState, *Problem) {
	hand, _, _ := strings.Cut(finger, "_")
	var st HandState
	found := false
	for _, h := range c.Hands() {
		if h.Hand == hand {
			st, found = h, true
		}
	}
	no := func(code, hint string) (HandState, *Problem) {
		return st, &Problem{Field: "finger", Code: code, Message: code, Hint: hint}
	}
	if !found {
		return no("finger", "Unbekannter Finger.")
	}
	if st.Finger != finger || st.Resolved() {
		return no("not-now", "Dieser Finger ist gerade nicht an der Reihe. Die Seite zeigt jetzt den aktuellen Stand.")
	}
	switch action {
	case ActionCapture:
		if st.Status != HandOpen {
			return no("attempts", "Keine Versuche mehr für diesen Finger. Bitte entscheiden, wie es weitergeht.")
		}
	case FingerAccept:
		if len(st.Attempts) == 0 {
			return no("no-attempt", "Es gibt noch keine Aufnahme, die übernommen werden kann.")
		}
	case FingerSkip, FingerNone:
		if ReasonGerman(reason) == "" {
			st, p := no("reason", "Bitte einen Grund wählen.")
			p.Field = "reason"
			return st, p
		}
	default:
		return no("action", "Unbekannte Aktion.")
	}
	return st, nil
}

// check validates a capture record sealed with a case: known fingers, never the little one, at
// most MaxAttempts per finger, scores 0..100 with a known method, decisions with a reason.
func (c Capture) check(ck *checker) {
	per := map[string]int{}
	for i, a := range c.Attempts {
		field := fmt.Sprintf("details.fingerprint_capture.attempts[%d]", i)
		_, _, little, ok := ParseFinger(a.Finger)
		switch {
		case little:
			ck.add(field+".finger", "little-finger", "little fingers are never taken", "Der kleine Finger darf nicht verwendet werden.")
		case !ok:
			ck.add(field+".finger", "finger", "unknown finger, want e.g. right_index", "Unbekannter Finger.")
		}
		if per[a.Finger]++; per[a.Finger] == MaxAttempts+1 {
			ck.add(field, "attempts", fmt.Sprintf("more than %d attempts", MaxAttempts), fmt.Sprintf("Höchstens %d Versuche pro Finger.", MaxAttempts))
		}
		if a.Quality < 0 || a.Quality > 100 {
			ck.add(field+".quality", "quality", "score must be 0..100", "Qualitätswert muss zwischen 0 und 100 liegen.")
		}
		if a.Method != MethodNFIQ2 && a.Method != MethodEstimate {
			ck.add(field+".method", "method", "method must be nfiq2 or estimate", "Unbekanntes Verfahren der Qualitätsmessung.")
		}
	}
	for i, d := range c.Decisions {
		field := fmt.Sprintf("details.fingerprint_capture.decisions[%d]", i)
		hand, _, _, ok := ParseFinger(d.Finger)
		if !ok || hand != d.Hand {
			ck.add(field+".finger", "finger", "finger does not belong to the hand", "Unbekannter Finger.")
		}
		switch d.Action {
		case FingerAccept:
		case FingerSkip, FingerNone:
			if ReasonGerman(d.Reason) == "" {
				ck.add(field+".reason", "reason", "a skipped finger needs a known reason", "Grund für den ausgelassenen Finger fehlt.")
			}
		default:
			ck.add(field+".action", "action", "action must be accept, next or none", "Unbekannte Entscheidung.")
		}
	}
}

// FingerPosition is the ISO/IEC 19794-4 finger position of "right_index" and the like.
func FingerPosition(f string) (fingerprint.Finger, bool) {
	hand, kind, little, ok := ParseFinger(f)
	if !ok {
		return fingerprint.UnknownFinger, false
	}
	d := map[string]fingerprint.Digit{"thumb": fingerprint.Thumb, "index": fingerprint.Index,
		"middle": fingerprint.Middle, "ring": fingerprint.Ring}[kind]
	if little {
		d = fingerprint.Little
	}
	h := fingerprint.Right
	if hand == "left" {
		h = fingerprint.Left
	}
	return fingerprint.FingerOf(h, d), true
}
