package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// The capture procedure of BSI TR-03121-3 Vol. 2 for the ID card, as koffer applies it:
//
//   - per person the right and the left index finger, as flat prints;
//   - where a finger is missing, injured or of too low quality: the thumb, then the middle,
//     then the ring finger of the same hand; never the little finger;
//   - at most MaxAttempts attempts per finger, the best one kept;
//   - a finger is good when its NFIQ 2 score reaches the threshold for its kind (Thresholds);
//     without NFIQ 2, or below the threshold, the caseworker decides whether the best attempt
//     is taken; their decision and its reason are recorded;
//   - if only one hand gives a finger, that one is stored;
//   - nobody under MinAge gives fingerprints.

// MaxAttempts is the number of attempts per finger.
const MaxAttempts = 3

// MinAge is the age from which fingerprints are taken.
const MinAge = 6

// Order is the sequence of fingers tried on each hand.
var Order = []Digit{Index, Thumb, Middle, Ring}

// Reason is why a finger was not taken or was taken below the threshold. Stable English codes.
type Reason string

const (
	ReasonNone        Reason = ""
	ReasonMissing     Reason = "missing"      // finger missing (amputation, malformation)
	ReasonInjured     Reason = "injured"      // bandaged, wounded, temporarily unusable
	ReasonUnder6      Reason = "under-6"      // the applicant is younger than MinAge
	ReasonPoorQuality Reason = "poor-quality" // attempts below threshold, caseworker declined
	ReasonNoUsable    Reason = "no-usable"    // every attempt failed (no image)
	ReasonAccepted    Reason = "accepted"     // caseworker took an attempt below the threshold
	ReasonRepeated    Reason = "repeated"     // the same finger was presented again
)

// German is the reason as the caseworker reads it.
func (r Reason) German() string {
	switch r {
	case ReasonMissing:
		return "Finger fehlt"
	case ReasonInjured:
		return "Finger verletzt"
	case ReasonUnder6:
		return "Antragsteller unter 6 Jahren"
	case ReasonPoorQuality:
		return "Qualität nicht ausreichend"
	case ReasonNoUsable:
		return "keine verwertbare Aufnahme"
	case ReasonAccepted:
		return "von der Sachbearbeitung trotz Qualität übernommen"
	case ReasonRepeated:
		return "derselbe Finger wurde erneut aufgelegt"
	}
	return ""
}

// Operator is the caseworker at the kit. The procedure asks, the caseworker decides last.
type Operator interface {
	// Skip is asked before a finger is tried: a reason (missing, injured) skips it.
	Skip(ctx context.Context, f Finger) (Reason, error)
	// Accept is asked when a finger's best attempt does not meet the NFIQ 2 threshold (or
	// only an estimate exists): true takes it, false moves on to the next finger.
	Accept(ctx context.Context, f Finger, best Attempt) (bool, error)
}

// Matcher compares two prints. Readers and SDKs that can tell whether the same finger was
// presented twice provide one; without it the repeated-finger check is not done.
type Matcher interface {
	Same(ctx context.Context, a, b *Image) (bool, error)
}

// Attempt is one capture try.
type Attempt struct {
	Finger  Finger
	Image   *Image // nil when the attempt failed
	Score   Score
	Err     error // the reader's reason for a failed attempt
	Repeat  bool  // the matcher found a finger already taken
	RetryOK bool  // RetryHint: another attempt may be better
}

// Print is a finger that is kept.
type Print struct {
	Finger   Finger
	Image    *Image
	Score    Score
	Attempts int
	// ByOperator is set when the caseworker took it below the threshold or on an estimate.
	ByOperator bool
}

// Decision records one decision of the procedure or the caseworker.
type Decision struct {
	At     time.Time
	Finger Finger
	Reason Reason
}

// Result is the outcome for one person.
type Result struct {
	Prints    []Print
	Decisions []Decision
	// Exempt is set when no prints are taken at all (under 6).
	Exempt Reason
	// RepeatCheck says whether a matcher checked for a repeated finger.
	RepeatCheck bool
}

// Procedure runs the capture procedure for one person.
type Procedure struct {
	Reader   Reader
	Scorer   Scorer   // nil: Estimate
	Operator Operator // required
	Matcher  Matcher  // optional
	Now      func() time.Time
	Logger   *slog.Logger
}

// Run captures the prints of a person of the given age in years.
func (p *Procedure) Run(ctx context.Context, age int) (*Result, error) {
	if p.Operator == nil || p.Reader == nil {
		return nil, Failf(CodeProcedure, "procedure: reader and operator are required")
	}
	res := &Result{RepeatCheck: p.Matcher != nil}
	if age < MinAge {
		res.Exempt = ReasonUnder6
		res.Decisions = append(res.Decisions, Decision{At: p.now(), Reason: ReasonUnder6})
		p.log().Info("no fingerprints taken", "reason", string(ReasonUnder6))
		return res, nil
	}
	for _, hand := range []Hand{Right, Left} {
		if err := p.hand(ctx, hand, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (p *Procedure) hand(ctx context.Context, hand Hand, res *Result) error {
	for _, d := range Order {
		f := FingerOf(hand, d)
		reason, err := p.Operator.Skip(ctx, f)
		if err != nil {
			return fmt.Errorf("procedure: operator: %w", err)
		}
		if reason != ReasonNone {
			res.Decisions = append(res.Decisions, Decision{At: p.now(), Finger: f, Reason: reason})
			continue
		}
		best, attempts, err := p.attempts(ctx, f, res)
		if err != nil {
			return err
		}
		if best == nil {
			res.Decisions = append(res.Decisions, Decision{At: p.now(), Finger: f, Reason: ReasonNoUsable})
			continue
		}
		if Sufficient(best.Score, f) {
			res.Prints = append(res.Prints, Print{Finger: f, Image: best.Image, Score: best.Score, Attempts: attempts})
			return nil
		}
		ok, err := p.Operator.Accept(ctx, f, *best)
		if err != nil {
			return fmt.Errorf("procedure: operator: %w", err)
		}
		if ok {
			res.Decisions = append(res.Decisions, Decision{At: p.now(), Finger: f, Reason: ReasonAccepted})
			res.Prints = append(res.Prints, Print{Finger: f, Image: best.Image, Score: best.Score, Attempts: attempts, ByOperator: true})
			return nil
		}
		res.Decisions = append(res.Decisions, Decision{At: p.now(), Finger: f, Reason: ReasonPoorQuality})
	}
	p.log().Info("no finger taken on a hand", "hand", int(hand))
	return nil
}

// attempts captures f up to MaxAttempts times and returns the best usable attempt. Reader
// faults that another attempt can cure count as attempts; a reader that is gone ends the run.
func (p *Procedure) attempts(ctx context.Context, f Finger, res *Result) (*Attempt, int, error) {
	var best *Attempt
	n := 0
	for n < MaxAttempts {
		n++
		a, err := p.attempt(ctx, f, res)
		if err != nil {
			return nil, n, err
		}
		p.log().Info("fingerprint attempt", "finger", f.String(), "attempt", n,
			"score", a.Score.Value, "method", string(a.Score.Method), "repeat", a.Repeat, "failed", a.Image == nil)
		if a.Image == nil || a.Repeat {
			continue
		}
		if best == nil || a.Score.Value > best.Score.Value {
			best = &a
		}
		if Sufficient(a.Score, f) || (a.Score.Method == MethodEstimate && !a.RetryOK) {
			break
		}
	}
	return best, n, nil
}

func (p *Procedure) attempt(ctx context.Context, f Finger, res *Result) (Attempt, error) {
	a := Attempt{Finger: f}
	img, err := p.Reader.Capture(ctx)
	if err != nil {
		if retryable(err) {
			a.Err = err
			return a, nil
		}
		return a, err
	}
	a.Image = img
	scorer := p.Scorer
	if scorer == nil {
		scorer = Estimate{}
	}
	if a.Score, err = scorer.Score(ctx, img); err != nil {
		return a, fmt.Errorf("procedure: score: %w", err)
	}
	a.RetryOK = RetryHint(a.Score, f)
	if p.Matcher != nil {
		for _, pr := range res.Prints {
			same, err := p.Matcher.Same(ctx, pr.Image, img)
			if err != nil {
				return a, fmt.Errorf("procedure: compare: %w", err)
			}
			if same {
				a.Repeat = true
				res.Decisions = append(res.Decisions, Decision{At: p.now(), Finger: f, Reason: ReasonRepeated})
			}
		}
	}
	return a, nil
}

// CaptureFinger takes a single finger outside the procedure (technician checks). The little
// finger is refused: the procedure never takes it.
func (p *Procedure) CaptureFinger(ctx context.Context, f Finger) (*Attempt, error) {
	if !f.Valid() {
		return nil, Failf(CodeProcedure, "procedure: invalid finger %d", f)
	}
	if f.Digit() == Little {
		return nil, Failf(CodeProcedure, "procedure: the little finger is never taken")
	}
	a, err := p.attempt(ctx, f, &Result{})
	if err != nil {
		return nil, err
	}
	if a.Image == nil {
		return nil, a.Err
	}
	return &a, nil
}

func retryable(err error) bool {
	for _, c := range []string{CodeRetry, CodeNoFinger, CodeBadImage, CodeBadFrame, CodeTruncated} {
		if IsCode(err, c) {
			return true
		}
	}
	return false
}

func (p *Procedure) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Procedure) log() *slog.Logger {
	l := p.Logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("subsystem", "fingerprint")
}

var errNoPrints = errors.New("no prints")

// Err returns an error when the result holds no print and no exemption: the caseworker must
// record why before the application can go on.
func (r *Result) Err() error {
	if len(r.Prints) == 0 && r.Exempt == ReasonNone {
		return Fail(CodeProcedure, errNoPrints)
	}
	return nil
}
