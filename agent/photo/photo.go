// Package photo turns a camera frame into the ID photo the authority sends: it finds the face
// with pigo (a pure-Go pixel-intensity-comparison detector, github.com/esimov/pigo, with the
// facefinder cascade embedded), checks the head against the German passport-photo geometry,
// answers a plain German hint when it does not fit, and crops and scales the frame to 35×45 mm
// at 300 ppi (413×531 px) as JPEG.
//
// The camera UI draws Guide over its live preview. The caseworker lines the head up with it;
// Take checks that this was done (within an aiming tolerance) and then normalises size and
// position exactly, so the photo that leaves the kit meets the template's numbers.
package photo

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // the browser's canvas sends PNG or JPEG
	"io"
	"math"
	"slices"
	"sync"

	pigo "github.com/esimov/pigo/core"
	"golang.org/x/image/draw"
)

// The photo the authority sends (BSI TR-03170 / PAuswV: 35×45 mm, 300 ppi).
const (
	Width  = 413 // px: 35 mm at 300 ppi
	Height = 531 // px: 45 mm at 300 ppi
	PPI    = 300

	photoW = 35.0 // mm
	photoH = 45.0 // mm
)

// Limits on what Take reads: a browser frame is a few hundred KiB; anything far larger is not
// a camera frame.
const (
	MaxBytes  = 16 << 20
	MaxPixels = 3840 * 2160 // a 4K webcam
)

// Rules is the face geometry of an ID photo, in millimetres of the 35×45 mm photo (the
// Passbild-Schablone of Bundesdruckerei/BMI, which puts ICAO Doc 9303 Part 3 and ISO/IEC
// 19794-5 "full frontal image" on paper). The live frame is checked against the template's
// tolerated zones; the crop then sets the head to the ideal size, and the finished photo is
// checked again.
type Rules struct {
	Name string
	// HeadMin..HeadMax: chin to crown, tolerated in the aimed frame. Adults (from 10 years):
	// ideal 32–36 mm (70–80 % of the height, as ICAO asks), still tolerated 27–40 mm.
	HeadMin, HeadMax float64
	// EyesMin..EyesMax: the eye line in mm from the bottom edge, in the frame and the photo.
	// Adults: the template's eye zone 22–32 mm (49–71 %; ISO/IEC 19794-5: 50–70 %).
	EyesMin, EyesMax float64
	// CentreMin..CentreMax: the face's horizontal midpoint as a fraction of the width, in the
	// photo (ISO/IEC 19794-5: 45–55 %; the template's nose line is the centre).
	CentreMin, CentreMax float64
	// Aim widens the centre range in the live frame: the caseworker aims at a moving person,
	// and the crop then centres the face exactly.
	Aim float64
	// MaxUpscale bounds how far the crop may enlarge the frame: beyond it the photo is blurred.
	MaxUpscale float64
}

// The templates by age. Children of 6–9 have their own template (eyes 18–32 mm, head 17–40
// mm); under 6 no biometric check is asked, only format, frontal view and quality, so any
// single frontal face is taken and cropped.
var (
	Adult = Rules{Name: "ab 10 Jahre", HeadMin: 27, HeadMax: 40, EyesMin: 22, EyesMax: 32,
		CentreMin: 0.45, CentreMax: 0.55, Aim: 0.10, MaxUpscale: 1.5}
	Child = Rules{Name: "6 bis 9 Jahre", HeadMin: 17, HeadMax: 40, EyesMin: 18, EyesMax: 32,
		CentreMin: 0.45, CentreMax: 0.55, Aim: 0.10, MaxUpscale: 1.5}
	Infant = Rules{Name: "unter 6 Jahre", HeadMin: 10, HeadMax: 45, EyesMin: 0, EyesMax: 45,
		CentreMin: 0.35, CentreMax: 0.65, Aim: 0.10, MaxUpscale: 1.5}
)

// ForAge is the template for a citizen of age years on the day of the photo.
func ForAge(age int) Rules {
	switch {
	case age < 6:
		return Infant
	case age < 10:
		return Child
	}
	return Adult
}

// Target is where the crop puts the head: 34 mm high (the middle of the adults' ideal 32–36
// mm, inside every template's tolerated range), the crown 3 mm below the top edge, which sets
// an adult's eye line about 25 mm from the bottom.
const (
	targetHead  = 34.0 // mm
	targetCrown = 3.0  // mm from the top
)

// Face proportions relative to pigo's detection square (centre row/col, side s), measured on
// the frontal test face (testdata/photo) at seven sizes from 0.7 to 1.1 (spread about ±3 %):
// the crown is 0.735 s above the square's centre, the chin 0.555 s below, the eye line 0.072 s
// above. pigo finds no eyes, so the eye line is estimated from the face, not measured.
const (
	crownAbove = 0.735
	chinBelow  = 0.555
	eyesAbove  = 0.072
)

// Error is a frame that does not make an ID photo: Code for logs and tests, Hint in German for
// the caseworker, saying what to change.
type Error struct {
	Code string
	Hint string
}

func (e *Error) Error() string { return "photo: " + e.Code }

// Codes of Error.
const (
	CodeUnreadable = "unreadable"
	CodeNoFace     = "no-face"
	CodeSeveral    = "several-faces"
	CodeHeadSmall  = "head-too-small"
	CodeHeadLarge  = "head-too-large"
	CodeOffCentre  = "off-centre"
	CodeEyes       = "eyes-out-of-zone"
	CodeResolution = "resolution"
)

var hints = map[string]string{
	CodeUnreadable: "Das Kamerabild konnte nicht gelesen werden. Bitte neu aufnehmen.",
	CodeNoFace:     "Kein Gesicht erkannt. Die Person bitte frontal in die Kamera schauen lassen und für gleichmäßiges Licht sorgen.",
	CodeSeveral:    "Mehr als ein Gesicht im Bild. Bitte nur die antragstellende Person aufnehmen.",
	CodeHeadSmall:  "Kopf zu klein. Bitte die Kamera näher an die Person bringen, bis der Kopf die Schablone ausfüllt.",
	CodeHeadLarge:  "Kopf zu groß. Bitte die Kamera etwas weiter von der Person entfernen.",
	CodeOffCentre:  "Kopf nicht mittig. Bitte die Kamera so ausrichten, dass die Nase auf der Mittellinie der Schablone liegt.",
	CodeEyes:       "Augen nicht im vorgesehenen Bereich. Bitte die Kamera höher oder tiefer halten, bis die Augen im markierten Band liegen.",
	CodeResolution: "Das Kamerabild hat zu wenige Bildpunkte für ein Lichtbild. Bitte eine Kamera mit mindestens 640×480 Bildpunkten verwenden.",
}

func fail(code string) *Error { return &Error{Code: code, Hint: hints[code]} }

// Geometry is the face as measured in the frame, in millimetres of the guide (35×45 mm laid
// over the frame), for tests and the UI's feedback.
type Geometry struct {
	Head   float64 // chin to crown, mm
	Centre float64 // horizontal midpoint, fraction of the width from the left
	Eyes   float64 // eye line, mm from the bottom edge
}

// Photo is the finished ID photo.
type Photo struct {
	JPEG     []byte   // Width×Height, JFIF at 300 ppi
	Frame    Geometry // the face as aimed in the live frame's guide
	Result   Geometry // the face in the finished photo
	Upscaled float64  // how far the frame was enlarged (<1: reduced)
}

// Guide is the 35:45 rectangle the UI lays over a w×h frame: as high as the frame, centred
// (or as wide as a portrait frame narrower than 35:45).
func Guide(w, h int) image.Rectangle {
	gw, gh := float64(h)*photoW/photoH, float64(h)
	if gw > float64(w) {
		gw, gh = float64(w), float64(w)*photoH/photoW
	}
	x0 := (float64(w) - gw) / 2
	y0 := (float64(h) - gh) / 2
	return image.Rect(int(math.Round(x0)), int(math.Round(y0)), int(math.Round(x0+gw)), int(math.Round(y0+gh)))
}

//go:embed facefinder
var facefinder []byte

var (
	cascadeOnce sync.Once
	cascade     *pigo.Pigo
	cascadeErr  error
)

func classifier() (*pigo.Pigo, error) {
	cascadeOnce.Do(func() {
		cascade, cascadeErr = pigo.NewPigo().Unpack(facefinder)
		if cascadeErr != nil {
			cascadeErr = fmt.Errorf("unpack facefinder cascade: %w", cascadeErr)
		}
	})
	return cascade, cascadeErr
}

// Decode reads a camera frame (JPEG or PNG) of at most MaxBytes and MaxPixels. The size is
// checked from the header before any pixel is decoded.
func Decode(r io.Reader) (image.Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read frame: %w", err)
	}
	if len(data) > MaxBytes {
		return nil, fail(CodeUnreadable)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "jpeg" && format != "png") {
		return nil, fail(CodeUnreadable)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels {
		return nil, fail(CodeUnreadable)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fail(CodeUnreadable)
	}
	return img, nil
}

// Take checks the frame in r against rules and returns the cropped ID photo, or an *Error
// with the German hint.
func Take(r io.Reader, rules Rules) (*Photo, error) {
	img, err := Decode(r)
	if err != nil {
		return nil, err
	}
	return FromImage(img, rules)
}

// face is a detection in frame pixels.
type face struct{ row, col, size, q float64 }

// detect finds the faces in img, on a grey copy at most detectSide pixels on its long side
// (a frame's face is large; detecting at full resolution only costs time).
func detect(img image.Image) ([]face, error) {
	cl, err := classifier()
	if err != nil {
		return nil, err
	}
	const detectSide = 640
	b := img.Bounds()
	scale := math.Min(1, detectSide/float64(max(b.Dx(), b.Dy())))
	w, h := max(1, int(float64(b.Dx())*scale)), max(1, int(float64(b.Dy())*scale))
	grey := image.NewGray(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(grey, grey.Bounds(), img, b, draw.Src, nil)

	short := min(w, h)
	dets := cl.RunCascade(pigo.CascadeParams{
		MinSize: max(20, short/10), MaxSize: short, ShiftFactor: 0.1, ScaleFactor: 1.1,
		ImageParams: pigo.ImageParams{Pixels: grey.Pix, Rows: h, Cols: w, Dim: grey.Stride},
	}, 0)
	dets = cl.ClusterDetections(dets, 0.2)
	// Strongest first. A clustered score above 5 is a face in pigo's own examples; a box whose
	// centre lies inside a stronger one is the same face found again; and a second face must
	// score at least a quarter of the first, as a real one does (weak ones are texture).
	slices.SortFunc(dets, func(a, b pigo.Detection) int { return cmp.Compare(b.Q, a.Q) })
	const minQ = 5.0
	var out []face
	for _, d := range dets {
		f := face{
			row:  float64(d.Row)/scale + float64(b.Min.Y),
			col:  float64(d.Col)/scale + float64(b.Min.X),
			size: float64(d.Scale) / scale,
			q:    float64(d.Q),
		}
		if f.q < minQ || (len(out) > 0 && f.q < out[0].q/4) {
			continue
		}
		if !slices.ContainsFunc(out, f.inside) {
			out = append(out, f)
		}
	}
	return out, nil
}

// inside reports whether f's centre lies within g's box.
func (f face) inside(g face) bool {
	return math.Abs(f.row-g.row) < g.size/2 && math.Abs(f.col-g.col) < g.size/2
}

// FromImage is Take on a decoded frame.
func FromImage(img image.Image, rules Rules) (*Photo, error) {
	faces, err := detect(img)
	if err != nil {
		return nil, err
	}
	switch {
	case len(faces) == 0:
		return nil, fail(CodeNoFace)
	case len(faces) > 1:
		// A second, much smaller detection is a face in the background (a picture on the
		// wall) as much as a second person: both make an unusable photo.
		return nil, fail(CodeSeveral)
	}
	f := faces[0]
	b := img.Bounds()
	crown, chin, eyes := f.row-crownAbove*f.size, f.row+chinBelow*f.size, f.row-eyesAbove*f.size

	// The face as the caseworker sees it in the guide.
	g := Guide(b.Dx(), b.Dy()).Add(b.Min)
	mm := photoH / float64(g.Dy()) // mm per frame pixel within the guide
	geo := Geometry{
		Head:   (chin - crown) * mm,
		Centre: (f.col - float64(g.Min.X)) / float64(g.Dx()),
		Eyes:   (float64(g.Max.Y) - eyes) * mm,
	}
	switch {
	case geo.Head < rules.HeadMin:
		return nil, fail(CodeHeadSmall)
	case geo.Head > rules.HeadMax:
		return nil, fail(CodeHeadLarge)
	case geo.Centre < rules.CentreMin-rules.Aim || geo.Centre > rules.CentreMax+rules.Aim:
		return nil, fail(CodeOffCentre)
	case geo.Eyes < rules.EyesMin || geo.Eyes > rules.EyesMax:
		return nil, fail(CodeEyes)
	}

	// The crop: head exactly targetHead high, crown targetCrown below the top, face centred.
	px := (chin - crown) / targetHead // frame pixels per photo mm
	cw, ch := photoW*px, photoH*px
	x0 := f.col - cw/2
	y0 := crown - targetCrown*px
	crop := image.Rect(int(math.Round(x0)), int(math.Round(y0)), int(math.Round(x0+cw)), int(math.Round(y0+ch)))
	if crop.Dx() > b.Dx() || crop.Dy() > b.Dy() {
		return nil, fail(CodeHeadLarge)
	}
	// A crop reaching a little past the frame's edge is moved back in (at most 5 % of its
	// size, about 2 mm on the photo); the result is checked against the rules below.
	dx := shiftIn(crop.Min.X, crop.Max.X, b.Min.X, b.Max.X)
	dy := shiftIn(crop.Min.Y, crop.Max.Y, b.Min.Y, b.Max.Y)
	if math.Abs(float64(dx)) > 0.05*cw {
		return nil, fail(CodeOffCentre)
	}
	if math.Abs(float64(dy)) > 0.05*ch {
		return nil, fail(CodeEyes)
	}
	crop = crop.Add(image.Pt(dx, dy))
	up := float64(Height) / float64(crop.Dy())
	if up > rules.MaxUpscale {
		return nil, fail(CodeResolution)
	}
	// The photo itself must meet the rules, not only the aimed frame.
	final := Geometry{
		Head:   targetHead,
		Centre: (f.col - float64(crop.Min.X)) / float64(crop.Dx()),
		Eyes:   (float64(crop.Max.Y) - eyes) / float64(crop.Dy()) * photoH,
	}
	switch {
	case final.Centre < rules.CentreMin || final.Centre > rules.CentreMax:
		return nil, fail(CodeOffCentre)
	case final.Eyes < rules.EyesMin || final.Eyes > rules.EyesMax:
		return nil, fail(CodeEyes)
	}

	out := image.NewRGBA(image.Rect(0, 0, Width, Height))
	draw.CatmullRom.Scale(out, out.Bounds(), img, crop, draw.Src, nil)
	data, err := encodeJPEG(out)
	if err != nil {
		return nil, err
	}
	return &Photo{JPEG: data, Frame: geo, Result: final, Upscaled: up}, nil
}

// shiftIn is how far [lo, hi) must move to lie within [min, max) (0 if it does).
func shiftIn(lo, hi, min, max int) int {
	switch {
	case lo < min:
		return min - lo
	case hi > max:
		return max - hi
	}
	return 0
}

// encodeJPEG writes img as baseline JPEG (quality 90) with a JFIF header stating 300 ppi, so a
// receiving system that reads the density prints it at 35×45 mm.
func encodeJPEG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		return nil, fmt.Errorf("encode photo: %w", err)
	}
	data := b.Bytes()
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, errors.New("encode photo: no JPEG start marker")
	}
	// APP0 JFIF 1.02: units 1 (dots per inch), X and Y density, no thumbnail.
	app0 := []byte{0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x02, 0x01,
		byte(PPI >> 8), byte(PPI & 0xFF), byte(PPI >> 8), byte(PPI & 0xFF), 0x00, 0x00}
	out := make([]byte, 0, len(data)+len(app0))
	out = append(out, data[:2]...)
	out = append(out, app0...)
	return append(out, data[2:]...), nil
}
