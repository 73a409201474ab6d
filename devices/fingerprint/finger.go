package fingerprint

// Finger is a finger position as ISO/IEC 19794-4 codes it (1 right thumb ... 10 left little).
type Finger uint8

const (
	UnknownFinger Finger = iota
	RightThumb
	RightIndex
	RightMiddle
	RightRing
	RightLittle
	LeftThumb
	LeftIndex
	LeftMiddle
	LeftRing
	LeftLittle
)

// Digit is a finger without its hand.
type Digit uint8

const (
	Thumb Digit = iota + 1
	Index
	Middle
	Ring
	Little
)

// Hand is right or left.
type Hand uint8

const (
	Right Hand = iota + 1
	Left
)

// FingerOf returns the finger of a hand.
func FingerOf(h Hand, d Digit) Finger {
	if h == Left {
		return Finger(5 + d)
	}
	return Finger(d)
}

// Hand returns the finger's hand.
func (f Finger) Hand() Hand {
	if f >= LeftThumb && f <= LeftLittle {
		return Left
	}
	return Right
}

// Digit returns which finger of the hand it is.
func (f Finger) Digit() Digit {
	if f == UnknownFinger || f > LeftLittle {
		return 0
	}
	return Digit((f-1)%5 + 1)
}

// Valid reports whether f is one of the ten fingers.
func (f Finger) Valid() bool { return f >= RightThumb && f <= LeftLittle }

var fingerNames = [...]string{"unknown", "right thumb", "right index", "right middle", "right ring", "right little",
	"left thumb", "left index", "left middle", "left ring", "left little"}

var fingerGerman = [...]string{"unbekannt", "rechter Daumen", "rechter Zeigefinger", "rechter Mittelfinger",
	"rechter Ringfinger", "rechter kleiner Finger", "linker Daumen", "linker Zeigefinger", "linker Mittelfinger",
	"linker Ringfinger", "linker kleiner Finger"}

func (f Finger) String() string {
	if int(f) < len(fingerNames) {
		return fingerNames[f]
	}
	return "invalid"
}

// German is the finger's name as the caseworker reads it.
func (f Finger) German() string {
	if int(f) < len(fingerGerman) {
		return fingerGerman[f]
	}
	return "ungültig"
}
