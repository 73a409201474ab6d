// Package web is the caseworker's user interface of the agent: German HTML pages rendered with
// html/template from embedded templates and assets, served on loopback. It guides the four
// services step by step over a Backend (the agent), keeps a login per caseworker that locks
// after 15 minutes idle, checks a CSRF token on every state-changing request and pushes device,
// queue and uplink changes to open pages with server-sent events.
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures a Server. Zero values mean the defaults.
type Options struct {
	Backend Backend
	Now     func() time.Time // default time.Now
	Logger  *slog.Logger     // default slog.Default()
	// IdleLock is how long a session may be idle before it locks (default 15 minutes).
	IdleLock time.Duration
	// SecureCookies adds the Secure attribute. Off by default: the agent serves plain HTTP on
	// loopback only; turn it on behind TLS.
	SecureCookies bool
	// Tick is how often an open event stream checks for the idle lock (default 5 s).
	Tick time.Duration
	// AllowHost accepts requests for a host name other than loopback (tests, never in the
	// agent). By default only localhost, 127.0.0.1 and ::1 are served (DNS rebinding).
	AllowHost func(host string) bool
	// DemoLogin is named on the login page: set only on a training kit (its demo caseworker).
	DemoLogin *DemoLogin
}

// DemoLogin is a training kit's demo caseworker.
type DemoLogin struct{ Name, Passphrase string }

// Server serves the caseworker UI. Create it with New.
type Server struct {
	opts     Options
	log      *slog.Logger
	pages    map[string]*template.Template
	mux      *http.ServeMux
	sessions sessions
}

// New builds the server and parses the embedded templates.
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("web: no backend")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.IdleLock <= 0 {
		opts.IdleLock = 15 * time.Minute
	}
	if opts.Tick <= 0 {
		opts.Tick = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{opts: opts, log: log.With("subsystem", "web")}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Server) parseTemplates() error {
	s.pages = map[string]*template.Template{}
	names := []string{"login", "locked", "start", "step", "done", "error", "technik"}
	for _, n := range names {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/status.html", "templates/"+n+".html")
		if err != nil {
			return err
		}
		s.pages[n] = t
	}
	frag, err := template.New("status.html").Funcs(funcs).ParseFS(templateFS, "templates/status.html")
	if err != nil {
		return err
	}
	s.pages["status"] = frag
	return nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	m.HandleFunc("GET /anmelden", s.loginForm)
	m.HandleFunc("POST /anmelden", s.csrf(s.login))
	m.HandleFunc("POST /abmelden", s.csrf(s.logout))
	m.HandleFunc("GET /gesperrt", s.lockedForm)
	m.HandleFunc("POST /gesperrt", s.csrf(s.unlock))
	m.HandleFunc("POST /sperren", s.csrf(s.auth(s.lockNow)))
	m.HandleFunc("GET /{$}", s.auth(s.start))
	m.HandleFunc("GET /technik", s.auth(s.technik))
	m.HandleFunc("GET /status", s.passive(s.statusFragment))
	m.HandleFunc("GET /ereignisse", s.passive(s.events))
	m.HandleFunc("POST /vorgang", s.csrf(s.auth(s.createCase)))
	m.HandleFunc("GET /vorgang/{id}", s.auth(s.resumeCase))
	m.HandleFunc("POST /vorgang/{id}/verwerfen", s.csrf(s.auth(s.discardCase)))
	m.HandleFunc("GET /vorgang/{id}/{step}", s.auth(s.showStep))
	m.HandleFunc("GET /uebungsdruck/{id}/{doc}", s.auth(s.trainingPrint))
	m.HandleFunc("POST /vorgang/{id}/{step}", s.csrf(s.auth(s.postStep)))
	m.HandleFunc("GET /vorgang/{id}/datei/{part}", s.auth(s.draftFile))
	s.mux = m
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP checks the host, sets the security headers and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		http.Error(w, "Unbekannter Hostname.", http.StatusMisdirectedRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with the
	// UI's own form posts, and the Origin check could not tell them from a sandboxed attacker.
	// Nothing leaves for other sites either way.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) hostAllowed(hostport string) bool { return hostAllowed(hostport, s.opts.AllowHost) }

// hostAllowed reports whether a Host header names loopback (or a host allow accepts): a page
// from another site that rebinds its DNS name to 127.0.0.1 still sends its own name.
func hostAllowed(hostport string, allow func(string) bool) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	return allow != nil && allow(host)
}

// HostCheck serves next only for requests whose Host is loopback (or accepted by allow), the
// rule of the UI, for everything else on the loopback listener too (GET /metrics).
func HostCheck(next http.Handler, allow func(host string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, allow) {
			http.Error(w, "Unbekannter Hostname.", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether a request's Origin header, if any, is this server. Browsers send
// Origin on every cross-site POST; a valid CSRF token stolen or guessed by a page elsewhere is
// then still refused. "null" (sandboxed frames, file: pages) is never this server.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser, or a same-origin GET-initiated form in an old browser
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

type ctxKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(ctxKey{}).(*session)
	return s
}

// csrf rejects a state-changing request without the session's token, and cross-site requests.
func (s *Server) csrf(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			s.forbidden(w, r)
			return
		}
		if !sameOrigin(r) {
			s.forbidden(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		sess := s.sessions.get(r)
		if sess == nil && r.Header.Get("X-CSRF-Token") == "" {
			// No session at all: the agent restarted (or the session expired) since the page
			// was shown. Nothing can be changed without one; ask for a login, not a reload.
			http.Redirect(w, r, "/anmelden?abgelaufen=1", http.StatusSeeOther)
			return
		}
		token := r.Header.Get("X-CSRF-Token")
		if token == "" {
			token = r.PostFormValue("csrf")
		}
		if !validCSRF(sess, token) {
			s.forbidden(w, r)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	}
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request) {
	s.log.Warn("csrfRejected", "path", r.URL.Path)
	s.render(w, r, http.StatusForbidden, "error", &page{
		Title: "Sicherheitsprüfung fehlgeschlagen",
		Error: "Die Anfrage kam ohne gültiges Sicherheitsmerkmal. Bitte die Seite neu laden und noch einmal versuchen. Es wurde nichts gespeichert.",
	})
}

// auth requires a logged-in, unlocked session; it locks an idle one (keeping what was posted)
// and counts the request as activity.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := sessionOf(r)
		if sess == nil {
			sess = s.sessions.get(r)
		}
		if sess == nil || !sess.loggedIn() {
			http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
			return
		}
		now := s.opts.Now()
		var pending *pendingForm
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/vorgang/") {
			_ = r.ParseForm()
			pending = &pendingForm{path: r.URL.Path, values: r.PostForm}
		}
		// The agent may have ended this caseworker's session on its own idle timer.
		agentLocked := !sess.locked && errors.Is(s.opts.Backend.Touch(r.Context(), sess.caseworker.Name), ErrLocked)
		var justLocked bool
		sess = s.sessions.update(sess.id, func(ss *session) {
			if !ss.locked && (agentLocked || now.Sub(ss.lastSeen) >= s.opts.IdleLock) {
				ss.locked, justLocked, ss.outcome = true, true, nil // a refused form (maybe a signature) is not kept
			}
			if ss.locked {
				if r.Method == http.MethodGet && justLocked {
					ss.resume = r.URL.RequestURI()
				} else if pending != nil {
					ss.resume, ss.pending = pending.path, pending
				}
				return
			}
			ss.lastSeen = now
		})
		if sess == nil {
			http.Redirect(w, r, "/anmelden", http.StatusSeeOther)
			return
		}
		if justLocked {
			s.lockBackend(r.Context(), sess.caseworker.Name)
		}
		if sess.locked {
			http.Redirect(w, r, "/gesperrt", http.StatusSeeOther)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	}
}

// passive serves background requests (status refresh, event stream) that need a session but
// are not caseworker activity: they never postpone the idle lock.
func (s *Server) passive(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.sessions.get(r)
		if sess == nil || !sess.loggedIn() {
			http.Error(w, "Nicht angemeldet.", http.StatusUnauthorized)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	}
}

func (s *Server) lockBackend(ctx context.Context, name string) {
	if err := s.opts.Backend.Lock(ctx, name); err != nil {
		s.log.Error("lockFailed", "err", err)
	}
}

// idle reports whether the session has been idle long enough to lock, locking it if so.
func (s *Server) idleCheck(ctx context.Context, id string) bool {
	now := s.opts.Now()
	var justLocked, locked bool
	sess := s.sessions.update(id, func(ss *session) {
		if !ss.locked && now.Sub(ss.lastSeen) >= s.opts.IdleLock {
			ss.locked, justLocked = true, true
		}
		locked = ss.locked
	})
	if sess == nil {
		return true
	}
	if justLocked {
		s.lockBackend(ctx, sess.caseworker.Name)
	}
	return locked
}

type pendingForm struct {
	path   string
	values map[string][]string
}
