package web

import (
	"strings"

	"koffer/agent/cases"
)

// The fingerprint procedure itself (order, attempts, thresholds, decisions) is agent/cases'
// Capture; this file only names fingers, hands and methods in German.

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

// MethodName says in German how a quality score was obtained.
func MethodName(m string) string {
	if m == cases.MethodNFIQ2 {
		return "NFIQ 2"
	}
	return "Schätzung, kein NFIQ 2"
}

// reasonOptions are the operator's reasons as choices.
func reasonOptions() []Option {
	out := make([]Option, len(cases.FingerReasons))
	for i, r := range cases.FingerReasons {
		out[i] = Option{r.Code, r.German}
	}
	return out
}

func reasonLabel(code string) string {
	if g := cases.ReasonGerman(code); g != "" {
		return g
	}
	return code
}
