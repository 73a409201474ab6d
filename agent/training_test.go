package agent

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/keys"
	"koffer/sync/enroll"
)

func TestTrainingDemo(t *testing.T) {
	a := newTestAgent(t, Options{})
	ctx := t.Context()
	require.Nil(t, a.DemoLogin(ctx), "no login to name before the demo exists")
	require.NoError(t, a.SetUpTrainingDemo(ctx))
	require.NoError(t, a.SetUpTrainingDemo(ctx), "a second start changes nothing")
	n, err := a.Store().CaseworkerCount(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	demo := a.DemoLogin(ctx)
	require.NotNil(t, demo)
	require.NoError(t, a.Login(ctx, demo.Name, []byte(demo.Passphrase)), "the named login works")
	visits, err := a.Visits(ctx, time.Now().Format(time.DateOnly))
	require.NoError(t, err)
	require.Len(t, visits, 1, "today's demo visit")
	assert.Equal(t, "Übungsfrau", visits[0].Person.FamilyName)
	assert.Contains(t, visits[0].Services, "meldebescheinigung")
	assert.NotNil(t, visits[0].Register, "the Meldebescheinigung can be printed from the pack")
}

// TestNoDemoOutsideTraining: a kit that is not a training kit in training mode never gets
// the demo caseworker, and its login page is told no login.
func TestNoDemoOutsideTraining(t *testing.T) {
	tests := []struct {
		name         string
		kitTraining  bool
		modeTraining bool
	}{
		{name: "enrolled kit", kitTraining: false, modeTraining: false},
		{name: "training kit on real devices", kitTraining: true, modeTraining: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			b, id, err := enroll.NewTraining("kit-test")
			require.NoError(t, err)
			require.NoError(t, keys.SaveKit(dir, &keys.Kit{Bundle: b, Training: tt.kitTraining, TownHall: id.String()}))
			a, err := New(context.Background(), Options{DataDir: dir, Training: tt.modeTraining})
			require.NoError(t, err)
			t.Cleanup(func() { a.Close() })
			assert.Error(t, a.SetUpTrainingDemo(t.Context()))
			assert.Nil(t, a.DemoLogin(t.Context()))
			n, err := a.Store().CaseworkerCount(t.Context())
			require.NoError(t, err)
			assert.Zero(t, n)
		})
	}
}
