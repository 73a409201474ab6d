package backoffice

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"

	"koffer/sync/townhall"
)

// argonParams are RFC 9106's second recommended option, as the kit uses for caseworkers:
// 3 passes, 64 MiB, 4 lanes, 16-byte salt, 32-byte tag.
var argonParams = &argon2id.Params{Memory: 64 * 1024, Iterations: 3, Parallelism: 4, SaltLength: 16, KeyLength: 32}

// HashPassphrase returns the argon2id PHC string a staff account stores.
func HashPassphrase(pass string) (string, error) {
	if len([]rune(pass)) < 12 {
		return "", errors.New("passphrase: at least 12 characters")
	}
	return argon2id.CreateHash(pass, argonParams)
}

// RoleName is a role as staff read it.
func RoleName(role string) string {
	switch role {
	case townhall.RoleAdmin:
		return "Administration"
	case townhall.RoleCaseworker:
		return "Sachbearbeitung"
	}
	return role
}

// ParseRole accepts a role as staff write it ("Sachbearbeitung", "administration").
func ParseRole(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sachbearbeitung":
		return townhall.RoleCaseworker, nil
	case "administration":
		return townhall.RoleAdmin, nil
	}
	return "", fmt.Errorf("role %q: want Sachbearbeitung or Administration", s)
}

const cookieName = "backoffice_sitzung"

// session is one browser. Before login it only carries the CSRF token of the login form; a
// locked session keeps its staff member, who must enter the passphrase again.
type session struct {
	id       string
	csrf     string
	name     string
	role     string
	locked   bool
	lastSeen time.Time
	resume   string
}

type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}

// get returns a copy of the request's session, or nil.
func (ss *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s := ss.byID[c.Value]; s != nil {
		cp := *s
		return &cp
	}
	return nil
}

// maxSessionAge bounds how long a session is kept after its last request (locked or not),
// so sessions opened by a login page that was never used do not pile up.
const maxSessionAge = 12 * time.Hour

func (ss *sessions) put(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, o := range ss.byID {
		if s.lastSeen.Sub(o.lastSeen) > maxSessionAge {
			delete(ss.byID, id)
		}
	}
	cp := *s
	ss.byID[s.id] = &cp
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, id)
}

func (s *Server) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: !s.opts.Insecure,
		SameSite: http.SameSiteStrictMode})
}

type roleCheck func(role string) bool

func anyRole(string) bool        { return true }
func adminOnly(role string) bool { return role == townhall.RoleAdmin }
func csrfOK(r *http.Request, s *session) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// staff guards a page: a logged-in, unlocked session with an allowed role, and a valid CSRF
// token on every POST. A session idle for longer than IdleLock is locked first.
func (s *Server) staff(allowed roleCheck, h func(w http.ResponseWriter, r *http.Request, ses *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ses := s.sessions.get(r)
		if ses == nil || ses.name == "" {
			http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
			return
		}
		now := s.now()
		if !ses.locked && now.Sub(ses.lastSeen) > s.opts.IdleLock {
			ses.locked = true
			s.audit(r, ses.name, "sessionLocked", "", "", "idle")
		}
		if ses.locked {
			if r.Method == http.MethodGet {
				ses.resume = r.URL.RequestURI()
			}
			s.sessions.put(ses)
			http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
			if err := r.ParseMultipartForm(8 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				s.fail(w, r, ses, http.StatusBadRequest, "Die Anfrage war zu groß oder unvollständig.")
				return
			}
			if !csrfOK(r, ses) {
				s.fail(w, r, ses, http.StatusForbidden, "Die Sitzung ist abgelaufen. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.")
				return
			}
		}
		if !allowed(ses.role) {
			s.fail(w, r, ses, http.StatusForbidden, "Dafür braucht es die Rolle Administration.")
			return
		}
		ses.lastSeen = now
		s.sessions.put(ses)
		h(w, r, ses)
	}
}

type loginData struct {
	Name   string
	Locked bool
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	ses := s.sessions.get(r)
	if ses == nil {
		ses = &session{id: newToken(), csrf: newToken(), lastSeen: s.now()}
		s.sessions.put(ses)
		s.setCookie(w, ses.id)
	}
	if ses.name != "" && !ses.locked {
		http.Redirect(w, r, "/eingang", http.StatusSeeOther)
		return
	}
	s.render(w, r, ses, http.StatusOK, "login.html", "Anmelden", loginData{Name: ses.name, Locked: ses.locked})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ses := s.sessions.get(r)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if ses == nil || r.ParseForm() != nil || !csrfOK(r, ses) {
		http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	pass := r.PostFormValue("passwort")
	data := loginData{Name: name, Locked: ses.locked}
	if ses.locked {
		name, data.Name = ses.name, ses.name // a locked session unlocks only for its owner
	}
	acct, err := s.th.StaffAccount(r.Context(), name)
	ok := false
	if err == nil {
		ok, err = argon2id.ComparePasswordAndHash(pass, acct.Hash)
	} else if !errors.Is(err, townhall.ErrNotFound) {
		s.log.Error("staffLookup", "err", err)
	}
	if err != nil || !ok {
		if acct.Name != "" {
			s.audit(r, acct.Name, "loginFailed", "", "", "")
		}
		s.renderError(w, r, ses, http.StatusUnauthorized, "login.html", "Anmelden", data,
			"Name oder Passwort stimmen nicht. Bitte prüfen Sie die Eingabe.")
		return
	}
	resume := "/eingang"
	if ses.locked && ses.resume != "" {
		resume = ses.resume
	}
	// A new session id after login: a token seen before login is worth nothing after it.
	s.sessions.drop(ses.id)
	ses = &session{id: newToken(), csrf: newToken(), name: acct.Name, role: acct.Role, lastSeen: s.now()}
	s.sessions.put(ses)
	s.setCookie(w, ses.id)
	s.audit(r, acct.Name, "loginSucceeded", "", "", "")
	http.Redirect(w, r, safeLocal(resume), http.StatusSeeOther)
}

// safeLocal keeps redirects on this site.
func safeLocal(p string) string {
	u, err := url.Parse(p)
	if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return "/eingang"
	}
	return p
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ses *session) {
	s.sessions.drop(ses.id)
	s.audit(r, ses.name, "loggedOut", "", "", "")
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: !s.opts.Insecure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
}

// switchUser ends a locked session so that someone else can log in at this browser.
func (s *Server) switchUser(w http.ResponseWriter, r *http.Request) {
	ses := s.sessions.get(r)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if ses != nil && r.ParseForm() == nil && csrfOK(r, ses) {
		s.sessions.drop(ses.id)
		if ses.name != "" {
			s.audit(r, ses.name, "loggedOut", "", "", "locked")
		}
	}
	http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
}

func (s *Server) lock(w http.ResponseWriter, r *http.Request, ses *session) {
	ses.locked = true
	ses.resume = safeLocal(r.PostFormValue("zurueck"))
	s.sessions.put(ses)
	s.audit(r, ses.name, "sessionLocked", "", "", "manual")
	http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
}

// audit writes an entry to the town hall's audit log; a failure is logged, the action stands.
func (s *Server) audit(r *http.Request, actor, event, caseID, kitID, detail string) {
	err := s.th.RecordAudit(r.Context(), townhall.AuditRecord{At: s.now(), Actor: actor, Event: event, CaseID: caseID, KitID: kitID, Detail: detail})
	if err != nil {
		s.log.Error("auditFailed", "event", event, "err", err)
	}
}
