// Package localapi is the agent's local HTTP+JSON API, served on the unix socket DIR/koffer.sock
// for the CLI and on loopback for the UI. It defines the wire types that package client uses.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"time"

	"koffer/agent/cases"
	"koffer/store"
)

// Status is the answer of GET /v1/status.
type Status struct {
	KitID     string        `json:"kit_id"`
	Mode      string        `json:"mode"` // "live" or "training"
	Version   string        `json:"version"`
	Started   time.Time     `json:"started"`
	TownHall  string        `json:"town_hall"`
	Unlocked  bool          `json:"unlocked"` // a caseworker is logged in (drafts can be read)
	Queue     QueueStats    `json:"queue"`
	Uptime    time.Duration `json:"uptime_ns"`
	DataDir   string        `json:"data_dir"`
	AuditOK   bool          `json:"audit_ok"`
	AuditInfo string        `json:"audit_info,omitempty"`
	Uplink    *Uplink       `json:"uplink,omitempty"` // nil on a kit without a town hall
	Devices   []Device      `json:"devices"`          // every kind, configured or not
	// DatabaseDamaged is the quick check's finding at start; while set no new case is taken.
	DatabaseDamaged string `json:"database_damaged,omitempty"`
}

// Uplink is the sync state: is the town hall reachable, what failed last, how much went up.
type Uplink struct {
	Reachable   bool      `json:"reachable"`
	LastContact time.Time `json:"last_contact,omitzero"`
	LastError   string    `json:"last_error,omitempty"` // a stable code
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Sending     string    `json:"sending,omitempty"` // case id being uploaded
	BytesSent   int64     `json:"bytes_sent"`
	Delivered   int       `json:"delivered"` // since the agent started
	// RevokedAt is when the town hall revoked this kit (uplink.revoked); zero while it is not.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Syncer is implemented by a backend that can sync now (POST /v1/sync); without it the
// endpoint answers 404 no-sync.
type Syncer interface {
	SyncNow(ctx context.Context) error
}

// QueueStats summarise the outbox.
type QueueStats struct {
	Depth        int    `json:"depth"`
	Parked       int    `json:"parked"`
	Bytes        int64  `json:"bytes"`
	OldestAgeSec int64  `json:"oldest_age_s"`
	OldestCaseID string `json:"oldest_case_id,omitempty"`
	Delivered    int    `json:"delivered"`
	Drafts       int    `json:"drafts"`
}

// SubmitRequest is the body of POST /v1/cases: a complete case file and the bytes of its
// attachments in the order of case.attachments. ID is chosen by the client (UUIDv7) so a retry
// after a lost answer cannot create the case twice.
type SubmitRequest struct {
	ID    string          `json:"id"`
	Case  json.RawMessage `json:"case"`
	Files [][]byte        `json:"files"`
}

// SubmitResponse answers a submit.
type SubmitResponse struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Late      bool   `json:"late"`
	Fee       string `json:"fee,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"` // the case already existed: nothing new stored
}

// Case is a queue entry: ids, service, state and times, never personal data. It is the
// store's row as it is, so the queue is not copied field by field on its way to the CLI.
type Case = store.Case

// Error is the body of every non-2xx answer.
type Error struct {
	Code     string          `json:"code"` // "invalid-case", "not-found", "internal", ...
	Message  string          `json:"message"`
	Problems []cases.Problem `json:"problems,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Backend is what the API needs from the agent.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	Submit(ctx context.Context, req SubmitRequest) (SubmitResponse, error)
	Cases(ctx context.Context) ([]Case, error)
	Case(ctx context.Context, id string) (Case, error)
}

// MaxRequest bounds a request body (a case with its scans).
const MaxRequest = 256 << 20

// Handler serves the API.
type Handler struct {
	mux *http.ServeMux
	b   Backend
	log *slog.Logger
	// submits admits one submit at a time: a submit holds its case's files in memory until
	// they are sealed, so concurrent CLI submits would hold several cases at once. A waiting
	// request's body is not read, which holds its client back.
	submits chan struct{}
}

// NewHandler returns the API handler for b.
func NewHandler(b Backend, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{mux: http.NewServeMux(), b: b, log: log.With("subsystem", "localapi"), submits: make(chan struct{}, 1)}
	h.mux.HandleFunc("GET /v1/status", h.status)
	h.mux.HandleFunc("POST /v1/cases", h.submit)
	h.mux.HandleFunc("GET /v1/queue", h.queue)
	h.mux.HandleFunc("GET /v1/queue/{id}", h.queueItem)
	h.mux.HandleFunc("POST /v1/sync", h.sync)
	return h
}

// sync wakes the uplink at once (koffer sync).
func (h *Handler) sync(w http.ResponseWriter, r *http.Request) {
	s, ok := h.b.(Syncer)
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(&Error{Code: "no-sync", Message: "this kit has no town hall to sync with"})
		return
	}
	err := s.SyncNow(r.Context())
	h.reply(w, r, struct{}{}, err)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.b.Status(r.Context())
	h.reply(w, r, st, err)
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	select {
	case h.submits <- struct{}{}:
		defer func() { <-h.submits }()
	case <-r.Context().Done():
		h.reply(w, r, nil, r.Context().Err())
		return
	}
	var req SubmitRequest
	body := http.MaxBytesReader(w, r.Body, MaxRequest)
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		req, err = ReadSubmit(multipart.NewReader(body, params["boundary"]))
		if err != nil {
			h.reply(w, r, nil, &Error{Code: "bad-request", Message: "request body: " + err.Error()})
			return
		}
	} else if err := json.NewDecoder(body).Decode(&req); err != nil {
		h.reply(w, r, nil, &Error{Code: "bad-request", Message: "request body: " + err.Error()})
		return
	}
	res, err := h.b.Submit(r.Context(), req)
	h.reply(w, r, res, err)
}

func (h *Handler) queue(w http.ResponseWriter, r *http.Request) {
	cs, err := h.b.Cases(r.Context())
	if cs == nil {
		cs = []Case{}
	}
	h.reply(w, r, cs, err)
}

func (h *Handler) queueItem(w http.ResponseWriter, r *http.Request) {
	c, err := h.b.Case(r.Context(), r.PathValue("id"))
	h.reply(w, r, c, err)
}

func (h *Handler) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err == nil {
		_ = json.NewEncoder(w).Encode(v)
		return
	}
	status, body := http.StatusInternalServerError, &Error{Code: "internal", Message: err.Error()}
	var ae *Error
	var ve *cases.ValidationError
	switch {
	case errors.As(err, &ve):
		status, body = http.StatusUnprocessableEntity, &Error{Code: "invalid-case", Message: ve.Error(), Problems: ve.Problems}
	case errors.As(err, &ae):
		status, body = http.StatusBadRequest, ae
	case errors.Is(err, store.ErrNotFound):
		status, body = http.StatusNotFound, &Error{Code: "not-found", Message: err.Error()}
	case errors.Is(err, context.Canceled):
		status = 499
	}
	if status >= 500 {
		h.log.Error("requestFailed", "path", r.URL.Path, "err", err)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// Device is one device of the kit with its state: the list the start page shows and
// `koffer status --json` prints.
type Device struct {
	Kind    string `json:"kind"`              // printer, scanner, fingerprint
	Name    string `json:"name,omitempty"`    // from the kit profile
	Driver  string `json:"driver,omitempty"`  // ipp, ipp-usb, escl, escl-usb, usb-reader, extproc, sim
	Address string `json:"address,omitempty"` // URI, USB VID:PID or helper program
	State   string `json:"state"`             // ready, missing, error, not-configured
	Code    string `json:"code,omitempty"`    // stable, for the technician
	Hint    string `json:"hint,omitempty"`    // German, for the caseworker
}

// The states of a Device.
const (
	DeviceReady         = "ready"
	DeviceMissing       = "missing"        // a USB device of the profile is not attached
	DeviceFailed        = "error"          // the last job on it failed
	DeviceNotConfigured = "not-configured" // the profile names no device of this kind
)

// Ready reports whether the device takes a job now.
func (d Device) Ready() bool { return d.State == DeviceReady }

// Training reports a simulator (devices/sim, training mode only).
func (d Device) Training() bool { return d.Driver == "sim" }
