package casework

import (
	"context"

	"koffer/agent/cases"
)

// Action is one change of a draft that the UI asks for. Core.Do applies it under the Change's
// version check and idempotency key. An adapter then needs one entry point for every step of
// the flow instead of one method for each. The set is closed: SaveStep, Scan, TakePhoto,
// Print, CaptureFinger, DecideFinger, RecaptureHand and Seal.
type Action interface {
	apply(ctx context.Context, k *Core, ch Change) (*Case, error)
}

// SaveStep validates and stores one step's values (Core.SaveStep).
type SaveStep struct {
	Step  string
	Input StepInput
}

// Scan scans a document into the case as Part (Core.Scan).
type Scan struct{ Part string }

// TakePhoto stores a camera frame as the case's photo (Core.TakePhoto).
type TakePhoto struct{ Frame []byte }

// Print prints a document of the case (Core.Print).
type Print struct{ Doc string }

// CaptureFinger takes one capture attempt of Finger (Core.CaptureFinger).
type CaptureFinger struct{ Finger string }

// DecideFinger records an operator decision for a hand (Core.DecideFinger).
type DecideFinger struct{ Decision cases.FingerDecision }

// RecaptureHand starts a hand's capture again (Core.RecaptureHand).
type RecaptureHand struct{ Hand string }

// Seal seals the case into a packet (Core.Seal).
type Seal struct{}

// Do applies one action to the draft ch names. The errors are those of the action's method.
func (k *Core) Do(ctx context.Context, ch Change, a Action) (*Case, error) {
	return a.apply(ctx, k, ch)
}

func (a SaveStep) apply(ctx context.Context, k *Core, ch Change) (*Case, error) {
	return k.SaveStep(ctx, ch, a.Step, a.Input)
}

func (a Scan) apply(ctx context.Context, k *Core, ch Change) (*Case, error) {
	return k.Scan(ctx, ch, a.Part)
}

func (a TakePhoto) apply(ctx context.Context, k *Core, ch Change) (*Case, error) {
	return k.TakePhoto(ctx, ch, a.Frame)
}

func (a Print) apply(ctx context.Context, k *Core, ch Change) (*Case, error) {
	return k.Print(ctx, ch, a.Doc)
}

func (a CaptureFinger) apply(ctx context.Context, k *Core, ch Change) (*Case, error) {
	return k.CaptureFinger(ctx, ch, a.Finger)
}

func (a DecideFinger) apply(ctx context.Context, k *Core, ch Change) (*Case, error) {
	return k.DecideFinger(ctx, ch, a.Decision)
}

func (a RecaptureHand) apply(ctx context.Context, k *Core, ch Change) (*Case, error) {
	return k.RecaptureHand(ctx, ch, a.Hand)
}

func (Seal) apply(ctx context.Context, k *Core, ch Change) (*Case, error) {
	return k.Seal(ctx, ch)
}
