package casework

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/cases"
)

// TestDoAppliesActions: each typed action reaches its operation under the change's version
// check, and an incomplete case is refused at sealing.
func TestDoAppliesActions(t *testing.T) {
	sc := &heldScanner{entered: make(chan struct{}), release: make(chan struct{})}
	close(sc.release)
	k := newCore(t, Devices{Scanner: sc})
	ctx := t.Context()
	c, err := k.CreateCase(ctx, "anna", cases.Wohnsitzanmeldung, "", "person")
	require.NoError(t, err)

	c, err = k.Do(ctx, Change{CaseID: c.ID, Version: c.Version, Key: "k1", Next: "adresse"},
		SaveStep{Step: "person", Input: StepInput{Fields: map[string]string{"person.family_name": "Muster"}}})
	require.NoError(t, err)
	assert.Equal(t, "Muster", c.Values["person.family_name"])
	assert.Equal(t, "adresse", c.Step)

	stale := c.Version
	c, err = k.Do(ctx, Change{CaseID: c.ID, Version: c.Version, Key: "k2", Next: "adresse"}, Scan{Part: "vermieter"})
	require.NoError(t, err)
	assert.Equal(t, 1, c.Scans["vermieter"])

	_, err = k.Do(ctx, Change{CaseID: c.ID, Version: stale, Key: "k3", Next: "adresse"}, Scan{Part: "vermieter"})
	require.ErrorIs(t, err, ErrConflict)

	_, err = k.Do(ctx, Change{CaseID: c.ID, Version: c.Version, Key: "k4", Next: "adresse"}, Seal{})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve, "a case without an address does not seal")
	got, err := k.Case(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "draft", got.State)
}
