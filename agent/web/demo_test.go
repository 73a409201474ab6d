package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"koffer/agent/web"
	"koffer/agent/web/webtest"
)

// TestLoginPageNamesDemoLoginOnlyInTraining: the login page names a login only where the
// agent passes one (a training kit's demo caseworker), and nothing of it otherwise.
func TestLoginPageNamesDemoLoginOnlyInTraining(t *testing.T) {
	tests := []struct {
		name string
		demo *web.DemoLogin
	}{
		{name: "training kit", demo: &web.DemoLogin{Name: "übung", Passphrase: "übungskoffer"}},
		{name: "real kit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := web.New(web.Options{Backend: webtest.New(), DemoLogin: tt.demo, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			srv := httptest.NewServer(s)
			defer srv.Close()
			res, err := http.Get(srv.URL + "/anmelden")
			require.NoError(t, err)
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			require.NoError(t, err)
			if tt.demo == nil {
				assert.NotContains(t, string(body), "uebungszugang")
				assert.NotContains(t, string(body), "Übungskoffer")
				return
			}
			assert.Contains(t, string(body), `id="uebungszugang"`)
			assert.Contains(t, string(body), "<strong>übung</strong>")
			assert.Contains(t, string(body), "<strong>übungskoffer</strong>")
		})
	}
}
