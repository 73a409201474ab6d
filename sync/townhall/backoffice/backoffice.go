// Package backoffice is the town hall's German web console for the staff of the Bürgerbüro:
// the inbox of cases the kits delivered, the case view (the packet is opened on the server,
// nothing personal is cached by the browser), the hand-over to the registration software
// ("An Fachverfahren übergeben") with the deletion of fingerprints it triggers, visit booking,
// the kit fleet and the revocation of a lost kit. Staff log in (argon2id), have one of two
// roles, and every action lands in the town hall's audit log.
//
// It reaches the town hall only through the TownHall interface; it listens apart from the
// kits' mutual-TLS endpoint (`townhall serve --staff-listen`).
package backoffice

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"
	_ "time/tzdata" // Europe/Berlin on machines without zoneinfo

	"koffer/sync/packet"
	"koffer/sync/townhall"
)

// TownHall is what the back office needs of the town hall (*townhall.Townhall implements it).
type TownHall interface {
	Cases(ctx context.Context, f townhall.CaseFilter) ([]townhall.CaseSummary, error)
	CaseSummary(ctx context.Context, caseID string) (townhall.CaseSummary, error)
	OpenCase(ctx context.Context, caseID string) (*packet.Packet, error)
	MarkHandedOver(ctx context.Context, caseID, actor, target string) error
	DeleteFingerprints(ctx context.Context, caseID, actor, rule string) (int, error)
	AddVisits(ctx context.Context, kitID string, pack []byte) (string, error)
	Fleet(ctx context.Context) ([]townhall.KitStatus, error)
	RevokeKit(ctx context.Context, kitID, actor, reason string) error
	AllowSealedBeforeRevocation(ctx context.Context, kitID, actor string) error
	TownhallAudit(ctx context.Context, limit int) ([]townhall.AuditRecord, error)
	RecordAudit(ctx context.Context, e townhall.AuditRecord) error
	StaffAccount(ctx context.Context, name string) (townhall.Staff, error)
}

// FingerImage is one finger of an ISO/IEC 19794-4 record, rendered for the case view.
type FingerImage struct {
	Finger  string // German name of the finger position
	Quality int    // NFIQ 2 score, 0 when none was recorded
	PNG     []byte
}

// FingerprintRenderer turns a finger image record into pictures. The town hall's command
// wires the devices' ISO/IEC 19794-4 reader in (sync does not import devices).
type FingerprintRenderer func(record []byte) ([]FingerImage, error)

// Options configure the back office; zero values mean defaults.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Location is the town hall's time zone for days and times shown; default Europe/Berlin.
	Location *time.Location
	// IdleLock locks a session after this long without a request; default 15 minutes.
	IdleLock time.Duration
	// FlagAfter flags a kit not heard from for this long; default 14 days.
	FlagAfter time.Duration
	// DropDir receives hand-over zips; HandoverURL, if set, receives each zip by POST with an
	// Idempotency-Key. At least one must be set for hand-over to work.
	DropDir     string
	HandoverURL string
	// HTTPClient posts hand-overs; default a client with a 30 s timeout.
	HTTPClient *http.Client
	// Fingerprints renders fingerprint records; without it the case view says it cannot.
	Fingerprints FingerprintRenderer
	// Insecure allows cookies without the Secure flag (plain-HTTP tests only).
	Insecure bool
}

// Server is the back office's HTTP server.
type Server struct {
	th        TownHall
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	loc       *time.Location
	pages     map[string]*template.Template
	sessions  *sessions
	retention []RetentionRule
}

//go:embed templates/*.html static/*
var assets embed.FS

// New builds the back office over th.
func New(th TownHall, opts Options) (*Server, error) {
	s := &Server{th: th, opts: opts, log: opts.Logger, now: opts.Now, loc: opts.Location}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("subsystem", "backoffice")
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			return nil, fmt.Errorf("back office: %w", err)
		}
		s.loc = loc
	}
	if s.opts.IdleLock <= 0 {
		s.opts.IdleLock = 15 * time.Minute
	}
	if s.opts.FlagAfter <= 0 {
		s.opts.FlagAfter = 14 * 24 * time.Hour
	}
	if s.opts.HTTPClient == nil {
		s.opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	var err error
	if s.retention, err = loadRetention(); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(s.funcs()); err != nil {
		return nil, err
	}
	s.sessions = &sessions{byID: map[string]*session{}}
	return s, nil
}

func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := n[len("templates/"):]
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("back office templates: %w", err)
		}
		pages[base] = t
	}
	return pages, nil
}

// Handler serves the console.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /anmelden", s.loginPage)
	mux.HandleFunc("POST /anmelden", s.login)
	mux.HandleFunc("POST /abmelden", s.staff(anyRole, s.logout))
	mux.HandleFunc("POST /anmelden/andere", s.switchUser)
	mux.HandleFunc("POST /sperren", s.staff(anyRole, s.lock))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/eingang", http.StatusSeeOther) })
	mux.HandleFunc("GET /eingang", s.staff(anyRole, s.inbox))
	mux.HandleFunc("GET /fall/{id}", s.staff(anyRole, s.caseView))
	mux.HandleFunc("GET /fall/{id}/datei/{part}", s.staff(anyRole, s.casePart))
	mux.HandleFunc("GET /fall/{id}/finger/{part}/{n}", s.staff(anyRole, s.fingerImage))
	mux.HandleFunc("POST /fall/{id}/uebergeben", s.staff(anyRole, s.handOver))
	mux.HandleFunc("GET /besuche", s.staff(anyRole, s.visitsPage))
	mux.HandleFunc("POST /besuche", s.staff(anyRole, s.bookVisit))
	mux.HandleFunc("POST /besuche/import", s.staff(anyRole, s.importVisits))
	mux.HandleFunc("GET /flotte", s.staff(anyRole, s.fleet))
	mux.HandleFunc("POST /flotte/{kit}/sperren", s.staff(adminOnly, s.revoke))
	mux.HandleFunc("POST /flotte/{kit}/annehmen", s.staff(adminOnly, s.allowSealed))
	mux.HandleFunc("GET /protokoll", s.staff(anyRole, s.auditPage))
	return secureHeaders(mux)
}

// secureHeaders keeps personal data out of every cache and the page out of foreign frames.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'")
		next.ServeHTTP(w, r)
	})
}

// Serve serves the console over TLS (cfg; nil means plain HTTP, for tests on loopback) on ln
// until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	<-errc
	return nil
}
