package backoffice_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"koffer/sync/townhall"
	"koffer/sync/townhall/backoffice"
)

// TestFleetShowsAuditBreak: a kit whose audit chain the town hall found broken is marked in
// the fleet view with the first broken entry; a kit whose chain holds is not.
func TestFleetShowsAuditBreak(t *testing.T) {
	fake, srv, _ := console(t, backoffice.Options{})
	fake.Kits = []townhall.KitStatus{{ID: "kit-1"}, {ID: "kit-2", AuditBrokenSeq: 42}}
	b := newClient(t, srv)
	b.login("erika", "richtig langes passwort")
	_, body := b.get("/flotte")
	assert.Contains(t, body, "Protokollkette unterbrochen</span> ab Eintrag 42")
	assert.Equal(t, 1, strings.Count(body, "Protokollkette unterbrochen"), "only the broken kit is marked")
}
