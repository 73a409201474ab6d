package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// TooManyAttemptsError is a Backend's refusal of a login attempt made too soon after failed
// ones: the UI says how long to wait.
type TooManyAttemptsError struct{ Wait time.Duration }

func (e *TooManyAttemptsError) Error() string { return "too many failed logins" }

// loginRefusal is the status and German message for a failed login or unlock; logIt marks
// errors that are not the caseworker's doing.
func loginRefusal(err error, bad string) (status int, msg string, logIt bool) {
	var ta *TooManyAttemptsError
	switch {
	case errors.Is(err, ErrBadLogin):
		return http.StatusUnauthorized, bad, false
	case errors.Is(err, ErrKitRevoked):
		return http.StatusForbidden, revokedText, false
	case errors.As(err, &ta):
		wait := "einer Minute"
		if m := int(ta.Wait.Round(time.Minute) / time.Minute); m > 1 {
			wait = fmt.Sprintf("%d Minuten", m)
		} else if ta.Wait < 50*time.Second {
			wait = fmt.Sprintf("%d Sekunden", max(int(ta.Wait.Round(time.Second)/time.Second), 1))
		}
		return http.StatusTooManyRequests, "Zu viele Fehlversuche. Bitte in " + wait + " erneut versuchen.", false
	}
	return http.StatusInternalServerError, "", true
}
