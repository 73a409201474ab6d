package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/web"
)

// TestOriginChecked: a POST with a valid token but the Origin of another site is refused, and
// nothing changes; the UI's own origin passes.
func TestOriginChecked(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	b.login()
	before, err := h.fake.Drafts(t.Context())
	require.NoError(t, err)
	post := func(origin string) int {
		req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/vorgang",
			strings.NewReader(url.Values{"csrf": {b.csrf}, "service": {string(web.Meldebescheinigung)}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		res, err := b.c.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	for _, evil := range []string{"http://evil.example", "null", "http://127.0.0.1:1", "file://"} {
		assert.Equal(t, http.StatusForbidden, post(evil), evil)
	}
	after, err := h.fake.Drafts(t.Context())
	require.NoError(t, err)
	assert.Equal(t, before, after, "nothing changed")

	assert.Equal(t, http.StatusSeeOther, post(h.srv.URL), "the UI's own origin")
}
