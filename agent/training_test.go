package agent

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
	"koffer/agent/keys"
	"koffer/sync/enroll"
)

func TestTrainingDemo(t *testing.T) {
	now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	a := newTestAgent(t, Options{Now: func() time.Time { return now }})
	ctx := t.Context()
	require.Nil(t, a.DemoLogin(ctx), "no login to name before the demo exists")
	require.NoError(t, a.SetUpTrainingDemo(ctx))
	require.NoError(t, a.SetUpTrainingDemo(ctx), "a second start on the same day changes nothing")
	n, err := a.Store().CaseworkerCount(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	packs, err := a.Store().VisitPacks(ctx)
	require.NoError(t, err)
	assert.Len(t, packs, 1)

	demo := a.DemoLogin(ctx)
	require.NotNil(t, demo)
	require.NoError(t, a.Login(ctx, demo.Name, []byte(demo.Passphrase)), "the named login works")
	visits, err := a.Visits(ctx, now.Format(time.DateOnly))
	require.NoError(t, err)
	services := map[string]bool{}
	for _, v := range visits {
		assert.Regexp(t, `Übung|Probe|Fiktiv`, v.Person.FamilyName, "clearly fictional")
		for _, s := range v.Services {
			services[s] = true
			if s == "meldebescheinigung" {
				assert.NotNil(t, v.Register, "the Meldebescheinigung can be printed from the pack")
			}
		}
	}
	for _, s := range cases.Services {
		assert.True(t, services[string(s)], "every service can be practised: %s", s)
	}

	// The next day's start brings that day's pack: the demo never runs out of visits.
	a.Logout()
	now = now.AddDate(0, 0, 1)
	require.NoError(t, a.SetUpTrainingDemo(ctx))
	require.NoError(t, a.Login(ctx, demo.Name, []byte(demo.Passphrase)))
	visits, err = a.Visits(ctx, now.Format(time.DateOnly))
	require.NoError(t, err)
	assert.Len(t, visits, 4, "today's demo visits")
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
