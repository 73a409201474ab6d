package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// cookieName holds the session id. The cookie is HttpOnly and SameSite=Strict; Secure is set
// when Options.SecureCookies is (the agent listens on plain-HTTP loopback, where a browser would
// drop a Secure cookie set over http://127.0.0.1 in some versions).
const cookieName = "koffer_sitzung"

// session is one browser's login. A locked session keeps its caseworker and the page to
// return to; unlocking needs that caseworker's passphrase again. Drafts live in the backend,
// so locking or expiring a session never loses one.
type session struct {
	id         string
	csrf       string
	caseworker Caseworker // empty until login
	locked     bool
	lastSeen   time.Time
	resume     string       // path to return to after unlock
	pending    *pendingForm // a step posted after the lock, offered again after unlock
	outcome    *stepOutcome // what the last refused change of a step showed (POST-redirect-GET); dropped on lock
}

// stepOutcome is a refused change of a step, kept so that the page the browser is redirected
// to (and every reload of it) shows it without posting the form again.
type stepOutcome struct {
	path   string
	status int
	values map[string]string
	errors map[string]string
	msg    string // page error
	device string // German hint of a device failure
}

func (s *session) loggedIn() bool { return s.caseworker.Name != "" }

type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) create(now time.Time) *session {
	s := &session{id: newToken(), csrf: newToken(), lastSeen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.byID == nil {
		ss.byID = map[string]*session{}
	}
	ss.byID[s.id] = s
	return s
}

// get returns a copy of the session of the request, or nil.
func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[c.Value]
	if s == nil {
		return nil
	}
	cp := *s
	return &cp
}

// update applies fn to the stored session under the lock and returns a copy.
func (ss *sessions) update(id string, fn func(*session)) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s == nil {
		return nil
	}
	fn(s)
	cp := *s
	return &cp
}

// rotate gives the session a new id and CSRF token (on login: no session fixation).
func (ss *sessions) rotate(old string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[old]
	if s == nil {
		return nil
	}
	delete(ss.byID, old)
	s.id, s.csrf = newToken(), newToken()
	ss.byID[s.id] = s
	cp := *s
	return &cp
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

// expire forgets anonymous sessions older than d, so the map stays small.
func (ss *sessions) expire(now time.Time, d time.Duration) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.byID {
		if !s.loggedIn() && now.Sub(s.lastSeen) > d {
			delete(ss.byID, id)
		}
	}
}

func validCSRF(s *session, token string) bool {
	return s != nil && token != "" && subtle.ConstantTimeCompare([]byte(s.csrf), []byte(token)) == 1
}

func (srv *Server) setCookie(w http.ResponseWriter, s *session) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    s.id,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   srv.opts.SecureCookies,
	})
}

func (srv *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: srv.opts.SecureCookies,
	})
}
