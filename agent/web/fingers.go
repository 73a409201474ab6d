package web

import "strings"

// The fingerprint procedure of BSI TR-03121-3 Vol. 2 as the UI walks it one request at a time:
// per hand the index finger first, then thumb, middle and ring finger (never the little finger),
// at most three attempts per finger, NFIQ 2 thresholds per finger kind, the operator decides
// last. The state is derived from the recorded attempts and decisions only, so a reload or a
// crash resumes exactly where the capture stood.

// Fingerprint rules (the numbers of agent/cases: MaxAttempts, NFIQThreshold, FingerOrder).
const (
	maxFingerAttempts = 3
	minFingerAge      = 6
)

var (
	fingerOrder     = []string{"index", "thumb", "middle", "ring"}
	fingerThreshold = map[string]int{"thumb": 30, "index": 30, "middle": 20, "ring": 10}
)

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
	Best         int             // best quality of the current or captured finger
	Method       string          // how Best was scored ("NFIQ 2" or an estimate)
	Operator     bool            // captured below the threshold by operator decision
	Reason       string          // why none, or why a finger was skipped
	Skipped      []FingerDecision
}

// Resolved reports whether nothing more needs to be done for this hand.
func (h HandState) Resolved() bool { return h.Status == HandCaptured || h.Status == HandNone }

// Hands returns the procedure state of the left and right hand.
func Hands(attempts []FingerAttempt, decisions []FingerDecision) []HandState {
	return []HandState{handState("left", attempts, decisions), handState("right", attempts, decisions)}
}

func handState(hand string, attempts []FingerAttempt, decisions []FingerDecision) HandState {
	st := HandState{Hand: hand}
	decided := func(finger, action string) (FingerDecision, bool) {
		for _, d := range decisions {
			if d.Hand == hand && d.Finger == finger && d.Action == action {
				return d, true
			}
		}
		return FingerDecision{}, false
	}
	for _, kind := range fingerOrder {
		f := hand + "_" + kind
		if d, ok := decided(f, FingerNone); ok {
			st.Status, st.Finger, st.Reason = HandNone, "", d.Reason
			return st
		}
		if d, ok := decided(f, FingerNext); ok {
			st.Skipped = append(st.Skipped, d)
			continue
		}
		var mine []FingerAttempt
		best := -1
		for _, a := range attempts {
			if a.Finger == f {
				mine = append(mine, a)
				if a.Quality > best {
					best, st.Method = a.Quality, a.Method
				}
			}
		}
		st.Finger, st.Attempts, st.Best, st.Threshold = f, mine, best, fingerThreshold[kind]
		st.AttemptsLeft = max(0, maxFingerAttempts-len(mine))
		switch _, accepted := decided(f, FingerAccept); {
		case best >= st.Threshold:
			st.Status = HandCaptured
		case accepted && len(mine) > 0:
			st.Status, st.Operator = HandCaptured, true
		case len(mine) >= maxFingerAttempts:
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

// FingersDone reports whether both hands are resolved.
func FingersDone(c *Case) bool {
	for _, h := range Hands(c.Attempts, c.Decisions) {
		if !h.Resolved() {
			return false
		}
	}
	return true
}

// CheckFingerAction reports whether an action on finger is allowed now; the German message
// says why not.
func CheckFingerAction(c *Case, action, finger string) (HandState, string) {
	hand, _, _ := strings.Cut(finger, "_")
	var st HandState
	found := false
	for _, h := range Hands(c.Attempts, c.Decisions) {
		if h.Hand == hand {
			st, found = h, true
		}
	}
	if !found {
		return st, "Unbekannter Finger."
	}
	if st.Finger != finger || st.Resolved() {
		return st, "Dieser Finger ist gerade nicht an der Reihe. Die Seite zeigt jetzt den aktuellen Stand."
	}
	switch action {
	case "capture":
		if st.Status != HandOpen {
			return st, "Keine Versuche mehr für diesen Finger. Bitte entscheiden, wie es weitergeht."
		}
	case FingerAccept:
		if len(st.Attempts) == 0 {
			return st, "Es gibt noch keine Aufnahme, die übernommen werden kann."
		}
	case FingerNext, FingerNone:
	default:
		return st, "Unbekannte Aktion."
	}
	return st, ""
}

var fingerKindDE = map[string]string{"index": "Zeigefinger", "thumb": "Daumen", "middle": "Mittelfinger", "ring": "Ringfinger", "little": "kleiner Finger"}

// FingerName is the German name of a finger: "rechter Zeigefinger".
func FingerName(f string) string {
	hand, kind, _ := strings.Cut(f, "_")
	k := fingerKindDE[kind]
	if k == "" {
		return f
	}
	adj := map[string]string{"left": "linker", "right": "rechter"}[hand]
	if kind == "little" {
		adj += "r"
	}
	return adj + " " + k
}

// HandName is "Linke Hand" or "Rechte Hand".
func HandName(h string) string {
	if h == "left" {
		return "Linke Hand"
	}
	return "Rechte Hand"
}

// FingerReasons are the operator's reasons, German.
var FingerReasons = []Option{
	{"fehlt", "Finger fehlt"},
	{"verletzt", "Finger verletzt oder verbunden"},
	{"qualitaet", "Abdruck nicht lesbar (Qualität)"},
	{"sonstiges", "Anderer Grund"},
}

func reasonLabel(code string) string {
	for _, o := range FingerReasons {
		if o.Value == code {
			return o.Label
		}
	}
	return code
}
