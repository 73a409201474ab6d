package web

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLoginRefusal(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
		logIt  bool
	}{
		{name: "wrong", err: ErrBadLogin, status: http.StatusUnauthorized, msg: "falsch"},
		{name: "seconds", err: &TooManyAttemptsError{Wait: 8 * time.Second}, status: http.StatusTooManyRequests, msg: "Bitte in 8 Sekunden erneut versuchen."},
		{name: "a minute", err: &TooManyAttemptsError{Wait: 55 * time.Second}, status: http.StatusTooManyRequests, msg: "Bitte in einer Minute erneut versuchen."},
		{name: "minutes", err: &TooManyAttemptsError{Wait: 14 * time.Minute}, status: http.StatusTooManyRequests, msg: "Bitte in 14 Minuten erneut versuchen."},
		{name: "other", err: errors.New("disk"), status: http.StatusInternalServerError, logIt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg, logIt := loginRefusal(tt.err, "falsch")
			assert.Equal(t, tt.status, status)
			assert.Contains(t, msg, tt.msg)
			assert.Equal(t, tt.logIt, logIt)
		})
	}
}
