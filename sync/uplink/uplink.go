// Package uplink is the kit side of sync: one sender that drains the outbox to the town hall
// whenever it answers. Oldest packet first; every upload is resumable (tus) and committed for a
// signed receipt; the receipt goes to the outbox, which deletes the packet and the case's
// biometrics. Visit packs come down on the same client.
//
// Failures are of two kinds. When the town hall cannot be reached (dial, TLS, reset, stall)
// the whole loop waits a short capped delay and probes again with the same oldest item, whose
// own backoff is not raised: a returning link is used within about a second, and an absent
// one costs one failed connection attempt per delay, never a spin. When the town hall answers
// but something about the item is wrong (5xx, garbage, bad receipt) the item backs off
// exponentially with jitter, up to a cap. Refusals the town hall marks final park the item.
package uplink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"koffer/sync/enroll"
	"koffer/sync/receipt"
	"koffer/sync/tus"
)

// OutboxItem is a sealed packet waiting for the town hall.
type OutboxItem struct {
	CaseID        string
	Service       string
	PacketPath    string
	Size          int64
	UploadURL     string
	Attempts      int
	NextAttemptAt time.Time
	CreatedAt     time.Time
}

// Receipt is what the outbox stores when the town hall has a case.
type Receipt struct {
	Number string
	Time   time.Time
	Raw    []byte
}

// IdleError is returned by Outbox.NextOutbox when no item is due. Next is when the next one
// will be (zero: the outbox is empty).
type IdleError struct{ Next time.Time }

func (e *IdleError) Error() string { return "outbox: nothing due" }

// Outbox is the kit's queue of sealed packets (the store implements it).
type Outbox interface {
	// NextOutbox returns the oldest item that is due, neither parked nor delivered, or an
	// *IdleError.
	NextOutbox(ctx context.Context, now time.Time) (*OutboxItem, error)
	// SetUploadURL records the tus upload of a case ("" forgets it). Called before the first
	// byte is sent.
	SetUploadURL(ctx context.Context, caseID, url string) error
	// RecordAttemptFailure counts a failed attempt and sets when the item is due again. Probes
	// that found the town hall unreachable are not attempts and are not recorded.
	RecordAttemptFailure(ctx context.Context, caseID, reason string, next time.Time) error
	// RetryNow makes every item that waits (backed off, not parked) due at now.
	RetryNow(ctx context.Context, now time.Time) error
	// Park stops retrying an item the town hall refused for good.
	Park(ctx context.Context, caseID, reason string) error
	// Deliver stores the receipt, marks the case delivered, removes its biometrics and its
	// packet file, and audits it.
	Deliver(ctx context.Context, caseID string, r Receipt) error
}

// Lookahead is optional on an Outbox. With it, the sender starts streaming the next case as
// soon as the previous one's last byte is out, while that case's receipt is still on its way:
// on a link with a long round trip the line never idles between cases. Receipts are still
// stored in order.
type Lookahead interface {
	// NextOutboxExcept is NextOutbox ignoring the item of case except.
	NextOutboxExcept(ctx context.Context, now time.Time, except string) (*OutboxItem, error)
}

// VisitSink keeps visit packs fetched from the town hall, sealed to the kit's visit-pack
// recipient (a key only a logged-in caseworker's data key opens).
type VisitSink interface {
	// VisitRecipient is the age recipient the town hall seals this kit's packs to; "" while
	// the kit has none (no caseworker has logged in yet), and then nothing is fetched.
	VisitRecipient() (string, error)
	// StoreVisitPack verifies and stores a pack; stored is false while it waits for a login
	// (the town hall keeps it meanwhile). A pack already stored reports stored again.
	StoreVisitPack(ctx context.Context, id string, sealed []byte) (stored bool, err error)
}

// AuditLog is the kit's hash-chained audit log (the store implements it): entries after seq,
// oldest first.
type AuditLog interface {
	AuditEntries(ctx context.Context, after int64, limit int) ([]receipt.AuditEntry, error)
}

// QueueSource counts what waits in the kit's outbox (the store implements it through the
// agent); the counts go up with the audit requests for the town hall's fleet view.
type QueueSource interface {
	QueueReport(ctx context.Context) (receipt.QueueReport, error)
}

// Options configure an Uplink; zero values mean defaults.
type Options struct {
	Bundle *enroll.Bundle // required: URL, kit certificate and the town hall CA
	Outbox Outbox         // required
	Visits VisitSink      // optional
	Audit  AuditLog       // optional: sent up in batches while the outbox is idle
	Queue  QueueSource    // optional: reported with the audit requests
	// URL overrides the bundle's town hall URL (tests, proxies).
	URL    string
	Logger *slog.Logger
	Now    func() time.Time

	// BackoffBase and BackoffMax shape the per-item backoff when the town hall answers but
	// the attempt fails; defaults 5 s and 10 min.
	BackoffBase, BackoffMax time.Duration
	// LinkRetryBase and LinkRetryMax shape the wait between probes while the town hall cannot
	// be reached; defaults 250 ms and 1 s.
	LinkRetryBase, LinkRetryMax time.Duration
	// StallTimeout aborts an upload that made no progress for this long; default 20 s.
	StallTimeout time.Duration
	// RequestTimeout bounds requests without a streamed body; default 15 s.
	RequestTimeout time.Duration
	// VisitInterval is how often visit packs are fetched and the audit log is sent while
	// idle; default 15 min. A kick makes it due at once.
	VisitInterval time.Duration
	// Transport overrides the HTTP transport (it must present the kit certificate).
	Transport http.RoundTripper
	// Version is the kit's software version, sent with the audit batches.
	Version string

	// RevokedAt starts the uplink revoked (the kit learnt it before a restart): see Revoked.
	RevokedAt time.Time
	// Revoked is called once when the town hall first answers that this kit is revoked
	// (lost or stolen). From then on the uplink sends nothing by itself: no retries, no visit
	// fetch, no audit; the refused packet is parked with code revoked, and the kit parks the
	// rest, for the town hall's administrator to decide on (revoked.go).
	Revoked func(ctx context.Context, at time.Time)
}

// State is the uplink as `koffer status` shows it.
type State struct {
	Reachable   bool      `json:"reachable"`
	LastContact time.Time `json:"last_contact,omitzero"`
	LastError   string    `json:"last_error,omitempty"` // a stable code, never personal data
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Sending     string    `json:"sending,omitempty"` // case id being uploaded
	BytesSent   int64     `json:"bytes_sent"`        // packet bytes handed to the network
	Resumes     int       `json:"resumes"`           // uploads continued from HEAD's offset
	Delivered   int       `json:"delivered"`
	Parked      int       `json:"parked"`
	Errors      int       `json:"errors"` // failed attempts since start (link down, refusals, bad answers)
	// RevokedAt is when the town hall first refused this kit as revoked; zero while it is not.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Uplink drains an outbox to the town hall.
type Uplink struct {
	opts     Options
	base     string
	kitID    string
	ca       *x509.Certificate
	http     *http.Client
	tus      *tus.Client
	log      *slog.Logger
	now      func() time.Time
	kick     chan struct{}
	meter    *linkMeter // nil with a caller's Transport
	sent     atomic.Int64
	linkFail int
	// outboxFail counts consecutive failed writes to the outbox (a full disk): the sender
	// backs off in memory, since it cannot store an item's backoff.
	outboxFail int

	mu        sync.Mutex
	state     State
	lastVisit time.Time

	registered string // the visit recipient the town hall confirmed (housekeeping only)
}

// New checks the options and builds the HTTP client (mutual TLS, the town hall CA pinned).
func New(opts Options) (*Uplink, error) {
	if opts.Bundle == nil || opts.Outbox == nil {
		return nil, errors.New("uplink: bundle and outbox are required")
	}
	d := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	d(&opts.BackoffBase, 5*time.Second)
	d(&opts.BackoffMax, 10*time.Minute)
	d(&opts.LinkRetryBase, 250*time.Millisecond)
	d(&opts.LinkRetryMax, time.Second)
	d(&opts.StallTimeout, 20*time.Second)
	d(&opts.RequestTimeout, 15*time.Second)
	d(&opts.VisitInterval, 15*time.Minute)
	u := &Uplink{opts: opts, kitID: opts.Bundle.KitID, log: opts.Logger, now: opts.Now, kick: make(chan struct{}, 1)}
	u.state.RevokedAt = opts.RevokedAt
	if u.log == nil {
		u.log = slog.Default()
	}
	u.log = u.log.With("subsystem", "uplink")
	if u.now == nil {
		u.now = time.Now
	}
	u.base = strings.TrimRight(opts.URL, "/")
	if u.base == "" {
		u.base = strings.TrimRight(opts.Bundle.URL, "/")
	}
	if u.base == "" {
		return nil, errors.New("uplink: the enrollment bundle has no town hall URL")
	}
	var err error
	if u.ca, err = receipt.ParseCA(opts.Bundle.CAPEM); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	rt := opts.Transport
	if rt == nil {
		cfg, err := opts.Bundle.ClientTLS()
		if err != nil {
			return nil, fmt.Errorf("uplink: %w", err)
		}
		u.meter = newLinkMeter()
		rt = newTransport(cfg, u.meter)
	}
	u.http = &http.Client{Transport: rt} // deadlines come from contexts, per request
	u.tus = &tus.Client{HTTP: u.http, Timeout: opts.RequestTimeout}
	return u, nil
}

// newTransport is the HTTP/1.1 transport the uplink uses: short dial and handshake deadlines,
// connections metered for stall detection, and room for two requests at once (the next case
// streams on a second kept-alive connection while the previous case's receipt is on its way;
// a HEAD may overlap a PATCH being torn down). HTTP/2 would share one connection, but tusd
// behind Go's HTTP/2 server cut every upload longer than its NetworkTimeout here ("i/o
// timeout" with bytes still arriving), so the kit speaks HTTP/1.1.
func newTransport(cfg *tls.Config, m *linkMeter) *http.Transport {
	return &http.Transport{
		TLSClientConfig:       cfg,
		DialContext:           m.dialer(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}),
		TLSHandshakeTimeout:   10 * time.Second,
		IdleConnTimeout:       60 * time.Second,
		MaxIdleConnsPerHost:   2,
		MaxConnsPerHost:       3,
		ResponseHeaderTimeout: 0, // after a long body the answer waits for the link to drain; the stall watchdog decides
	}
}

// Kick wakes the sender at once (a packet was sealed, or `koffer sync` asked).
func (u *Uplink) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// SyncNow is what `koffer sync` asks: every waiting case, backed-off ones included, is due at
// once, and the sender wakes. Parked cases stay parked: a technician unparks them.
func (u *Uplink) SyncNow(ctx context.Context) error {
	err := u.opts.Outbox.RetryNow(ctx, u.now())
	u.Kick()
	if err != nil {
		return fmt.Errorf("sync now: %w", err)
	}
	return nil
}

// State returns a snapshot for status displays.
func (u *Uplink) State() State {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.state
	s.BytesSent = u.sent.Load()
	return s
}

func (u *Uplink) update(f func(s *State)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f(&u.state)
}

// Run sends until ctx ends. It returns nil on cancellation.
func (u *Uplink) Run(ctx context.Context) error {
	var prev *flight // an attempt whose bytes are out, its answer awaited
	defer func() {
		if prev != nil {
			<-prev.done
		}
	}()
	_, lookahead := u.opts.Outbox.(Lookahead)
	probe := false // a revoked kit's one pass after a kick
	finish := func(f *flight) {
		if u.finish(ctx, f) {
			probe = false // refused as revoked: the pass ends, wait for the next kick
		}
	}
	for ctx.Err() == nil {
		if prev != nil && (!lookahead || u.revoked()) {
			finish(prev)
			prev = nil
		}
		if !probe && u.revoked() {
			if probe = u.waitKick(ctx); !probe {
				return nil
			}
		}
		it, err := u.next(ctx, prev)
		var idle *IdleError
		switch {
		case prev != nil && err != nil:
			// Nothing else to send now: wait for the answer in flight, then look again.
			finish(prev)
			prev = nil
			continue
		case errors.As(err, &idle) && u.revoked():
			probe = false
			continue
		case errors.As(err, &idle):
			if u.housekeepingDue() {
				u.housekeeping(ctx)
			}
			wait := u.opts.VisitInterval
			if !idle.Next.IsZero() {
				wait = min(wait, max(idle.Next.Sub(u.now()), 0))
			}
			u.sleep(ctx, wait)
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			u.outboxFailed(ctx, "read", err)
			continue
		}
		f := u.start(ctx, it, prev)
		select {
		case <-f.out:
		case <-f.done:
		}
		if prev != nil {
			finish(prev)
		}
		prev = f
		select {
		case <-f.done:
			finish(f)
			prev = nil
		default:
		}
	}
	return nil
}

// flight is one attempt at an item, running in its own goroutine so that the next item's
// attempt can start once this one's bytes are out.
type flight struct {
	it      *OutboxItem
	prev    *flight       // its receipt is stored before this one's
	out     chan struct{} // closed when the request completing the upload has handed over its last byte
	outOnce sync.Once
	done    chan struct{} // closed when res is final (a receipt is stored)
	res     result
}

func (f *flight) bytesOut() { f.outOnce.Do(func() { close(f.out) }) }

func (u *Uplink) next(ctx context.Context, prev *flight) (*OutboxItem, error) {
	if prev != nil {
		return u.opts.Outbox.(Lookahead).NextOutboxExcept(ctx, u.now(), prev.it.CaseID)
	}
	return u.opts.Outbox.NextOutbox(ctx, u.now())
}

func (u *Uplink) start(ctx context.Context, it *OutboxItem, prev *flight) *flight {
	f := &flight{it: it, prev: prev, out: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.res = u.send(ctx, f)
	}()
	return f
}

// finish waits for an attempt's end and settles it.
// finish waits for f's answer and settles it; it reports whether the town hall refused the
// kit as revoked (then the uplink has recorded the revocation, after parking the item).
func (u *Uplink) finish(ctx context.Context, f *flight) bool {
	<-f.done
	if ctx.Err() != nil {
		return false
	}
	u.settle(ctx, f.it, f.res)
	if f.res.code == receipt.CodeRevoked {
		u.revoke(ctx)
		return true
	}
	return false
}

// sleep waits d, or until a kick or the end of ctx. A kick also forces a visit fetch.
func (u *Uplink) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-u.kick:
		u.mu.Lock()
		u.lastVisit = time.Time{}
		u.mu.Unlock()
	}
}

// result of one attempt at an item.
type result struct {
	delivered bool
	linkDown  bool   // the town hall could not be reached
	final     bool   // refused for good: park
	code      string // stable reason
	err       error
}

func (u *Uplink) settle(ctx context.Context, it *OutboxItem, res result) {
	log := u.log.With("case", it.CaseID)
	now := u.now()
	switch {
	case res.delivered:
		u.linkFail = 0
		u.outboxRecovered()
		return
	case res.code == codeOutbox:
		// The kit could not write its own outbox (the receipt, the upload URL): not the
		// item's fault, and its backoff cannot be stored either.
		u.linkFail = 0
		u.outboxFailed(ctx, "write", res.err)
		return
	case res.final:
		log.Warn("packetParked", "code", res.code, "err", res.err)
		if err := u.opts.Outbox.Park(ctx, it.CaseID, res.code); err != nil {
			u.outboxFailed(ctx, "park", err)
			return
		}
		u.outboxRecovered()
		u.update(func(s *State) { s.Parked, s.Errors = s.Parked+1, s.Errors+1 })
		return
	}
	u.update(func(s *State) { s.LastError, s.LastErrorAt, s.Errors = res.code, now, s.Errors+1 })
	if res.linkDown {
		u.linkFail++
		delay := jitter(backoff(u.opts.LinkRetryBase, u.opts.LinkRetryMax, u.linkFail))
		wasReachable := false
		u.update(func(s *State) { wasReachable, s.Reachable = s.Reachable, false })
		if wasReachable || u.linkFail == 1 {
			log.Warn("townhallUnreachable", "code", res.code, "err", res.err)
		} else {
			log.Debug("townhallUnreachable", "code", res.code, "err", res.err)
		}
		// A probe, not an attempt: the item stays due with its count and backoff unchanged,
		// so the next probe is the same oldest item and one bad answer after an outage costs
		// one step of backoff, not the cap.
		u.sleep(ctx, delay)
		return
	}
	u.linkFail = 0
	next := now.Add(jitter(backoff(u.opts.BackoffBase, u.opts.BackoffMax, it.Attempts+1)))
	log.Warn("attemptFailed", "code", res.code, "err", res.err, "attempts", it.Attempts+1, "next", next)
	if err := u.opts.Outbox.RecordAttemptFailure(ctx, it.CaseID, res.code, next); err != nil {
		u.outboxFailed(ctx, "record", err)
		return
	}
	u.outboxRecovered()
}

// codeOutbox is the result code of an attempt that failed on the kit's own outbox.
const codeOutbox = "outbox"

// outboxFailed handles an outbox that cannot be read or written (a full disk, a damaged
// database). The item's backoff cannot be stored, so the sender waits here, growing like an
// item's backoff, and logs once at error level until a write succeeds again: never a busy loop
// of retries and log lines. Once space returns the next attempt commits again, and the town
// hall's idempotent commit returns the same receipt: delivered exactly once.
func (u *Uplink) outboxFailed(ctx context.Context, op string, err error) {
	u.outboxFail++
	if u.outboxFail == 1 {
		u.log.Error("outboxFailed", "op", op, "err", err)
	} else {
		u.log.Debug("outboxFailed", "op", op, "err", err, "failures", u.outboxFail)
	}
	now := u.now()
	u.update(func(s *State) { s.LastError, s.LastErrorAt, s.Errors = "kit_storage", now, s.Errors+1 })
	u.sleep(ctx, jitter(backoff(u.opts.BackoffBase, u.opts.BackoffMax, u.outboxFail)))
}

// outboxRecovered notes a working outbox after failures.
func (u *Uplink) outboxRecovered() {
	if u.outboxFail > 0 {
		u.log.Info("outboxRecovered", "failures", u.outboxFail)
		u.outboxFail = 0
	}
}

// backoff is base*2^(n-1), capped.
func backoff(base, maxD time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	return min(d, maxD)
}

// jitter spreads d over [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

var errStalled = errors.New("upload stalled")

// send makes one attempt: upload what the town hall lacks, commit, deliver the receipt.
func (u *Uplink) send(ctx context.Context, fl *flight) result {
	it := fl.it
	defer fl.bytesOut() // whatever happened, this attempt sends nothing more
	u.update(func(s *State) { s.Sending = it.CaseID })
	defer u.update(func(s *State) {
		if s.Sending == it.CaseID {
			s.Sending = ""
		}
	})

	f, err := os.Open(it.PacketPath)
	if errors.Is(err, os.ErrNotExist) {
		// Sealed but gone: nothing to send, ever. A technician looks at parked items.
		return result{final: true, code: "packet_missing", err: err}
	}
	if err != nil {
		return result{code: "packet_unreadable", err: err}
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return result{code: "packet_unreadable", err: err}
	}
	digest := hex.EncodeToString(h.Sum(nil))
	src := io.ReaderAt(f)

	uploadURL := it.UploadURL
	offset := int64(-1)
	if uploadURL != "" {
		off, length, err := u.tus.Offset(ctx, uploadURL)
		switch {
		case errors.Is(err, tus.ErrNotFound):
			// Gone: maybe because an earlier commit succeeded and its answer was lost. Ask
			// before uploading everything again.
			res, again := u.commit(ctx, fl, uploadURL, digest)
			if !again {
				return res
			}
			uploadURL = ""
		case err != nil:
			return u.headResult(ctx, err)
		case length != size:
			_ = u.tus.Terminate(ctx, uploadURL)
			uploadURL = ""
		default:
			offset = off
			u.reached()
			u.update(func(s *State) { s.Resumes++ })
		}
	}
	if uploadURL == "" {
		// The kit names the upload (a random key the town hall uses as the tus upload id), so
		// its URL is stored before the first byte and the data can travel in the creation
		// request itself: one round trip less per case.
		key := uuid.NewString()
		planned := u.base + "/files/" + key
		if err := u.opts.Outbox.SetUploadURL(ctx, it.CaseID, planned); err != nil {
			return result{code: codeOutbox, err: err}
		}
		// The town hall commits the upload the moment it is complete and answers the receipt
		// on the same request; case_id and packet_sha256 tell it what to check.
		meta := map[string]string{"case_id": it.CaseID, "upload_key": key, "packet_sha256": digest}
		var created string
		a, err := u.watch(ctx, size, fl, func(ctx context.Context, progress func(int64)) (tus.Answer, error) {
			var a tus.Answer
			var err error
			created, a, err = u.tus.CreateWithUpload(ctx, u.base+"/files/", src, size, meta, progress)
			return a, err
		})
		switch {
		case err == nil:
			u.reached()
			if created != planned {
				// A town hall that picks its own ids: remember the one it gave.
				if err := u.opts.Outbox.SetUploadURL(ctx, it.CaseID, created); err != nil {
					return result{code: codeOutbox, err: err}
				}
			}
			if res, ok := u.committed(ctx, fl, a, size, digest); ok {
				return res
			}
			uploadURL, offset = created, a.Offset
		case errors.Is(err, errStalled) && ctx.Err() == nil:
			u.log.Info("uploadResume", "case", it.CaseID, "reason", codeOf(err))
			u.update(func(s *State) { s.Resumes++ })
			off, herr := u.headOffset(ctx, planned)
			if errors.Is(herr, tus.ErrNotFound) {
				_ = u.opts.Outbox.SetUploadURL(ctx, it.CaseID, "")
				return result{code: "create_stalled", err: err}
			}
			if herr != nil {
				return u.headResult(ctx, herr)
			}
			uploadURL, offset = planned, off
		default:
			// The next attempt asks HEAD at the planned URL where this one got.
			return u.transportResult("create", err)
		}
	}

	// A few resumes within one attempt (stall, offset out of step, commit finding the upload
	// incomplete); anything more waits for the next attempt.
	for resumes := 0; ; resumes++ {
		if resumes > 8 {
			return result{code: "resume_limit", err: errors.New("too many resumes in one attempt")}
		}
		if offset < size {
			a, err := u.patch(ctx, fl, uploadURL, src, offset, size)
			switch {
			case err == nil:
				if res, ok := u.committed(ctx, fl, a, size, digest); ok {
					return res
				}
				offset = a.Offset
				continue
			case ctx.Err() != nil:
				return u.transportResult("patch", err)
			case errors.Is(err, tus.ErrNotFound):
				_ = u.opts.Outbox.SetUploadURL(ctx, it.CaseID, "")
				return result{code: "upload_missing", err: err}
			case !errors.Is(err, errStalled) && !errors.Is(err, tus.ErrOffsetMismatch) && !errors.Is(err, tus.ErrInterrupted):
				return u.transportResult("patch", err)
			}
			// Stalled or out of step: ask where the town hall really is and go on from there.
			u.log.Info("uploadResume", "case", it.CaseID, "reason", codeOf(err))
			u.update(func(s *State) { s.Resumes++ })
			if offset, err = u.headOffset(ctx, uploadURL); err != nil {
				return u.headResult(ctx, err)
			}
			continue
		}
		res, again := u.commit(ctx, fl, uploadURL, digest)
		if !again {
			return res
		}
		if res.code == receipt.CodeUploadIncomplete {
			var err error
			if offset, err = u.headOffset(ctx, uploadURL); err != nil {
				return u.headResult(ctx, err)
			}
			continue
		}
		// upload_missing or upload_corrupt: start a new upload on the next attempt.
		_ = u.opts.Outbox.SetUploadURL(ctx, it.CaseID, "")
		return res
	}
}

func (u *Uplink) headOffset(ctx context.Context, uploadURL string) (int64, error) {
	off, _, err := u.tus.Offset(ctx, uploadURL)
	return off, err
}

// patch sends src[offset:size] and aborts when no byte moved for StallTimeout.
func (u *Uplink) patch(ctx context.Context, f *flight, uploadURL string, src io.ReaderAt, offset, size int64) (tus.Answer, error) {
	a, err := u.watch(ctx, size-offset, f, func(ctx context.Context, progress func(int64)) (tus.Answer, error) {
		return u.tus.Patch(ctx, uploadURL, src, offset, size, progress)
	})
	if err == nil {
		u.reached()
	}
	return a, err
}

// watch runs a streaming request of total bytes under a stall watchdog: when the request's
// progress callback has not been called for StallTimeout, its context is cancelled and watch
// returns an error wrapping errStalled. Progress also feeds State.BytesSent, and the last
// byte handed over tells f that the next case may start.
func (u *Uplink) watch(ctx context.Context, total int64, f *flight, req func(ctx context.Context, progress func(int64)) (tus.Answer, error)) (tus.Answer, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var prev int64
	progress := func(n int64) {
		u.sent.Add(n - prev)
		prev = n
		last.Store(time.Now().UnixNano())
		if n >= total {
			f.bytesOut()
		}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(max(u.opts.StallTimeout/8, 10*time.Millisecond))
		defer tick.Stop()
		var acked int64
		if u.meter != nil {
			acked, _ = u.meter.acked()
		}
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if u.meter != nil {
					// Bytes the peer acknowledged are progress too (a deep send buffer drains).
					if n, ok := u.meter.acked(); ok && n != acked {
						if n > acked {
							last.Store(time.Now().UnixNano())
						}
						acked = n
					}
				}
				if time.Since(time.Unix(0, last.Load())) > u.opts.StallTimeout {
					cancel(errStalled)
					return
				}
			}
		}
	}()
	a, err := req(ctx, progress)
	if err != nil && errors.Is(context.Cause(ctx), errStalled) {
		return tus.Answer{}, fmt.Errorf("%w after %d bytes of this request", errStalled, prev)
	}
	return a, err
}

// committed handles the answer of a tus request: when it completed the upload and the town
// hall committed the case on it, ok is true and res is the result, as for a separate commit.
func (u *Uplink) committed(ctx context.Context, f *flight, a tus.Answer, size int64, digest string) (res result, ok bool) {
	if a.Offset != size {
		return result{}, false
	}
	switch a.Header.Get(receipt.CommitHeader) {
	case receipt.CommitReceipt:
		res, _ := u.answer(ctx, f, http.StatusOK, a.Body, digest)
		return res, true
	case receipt.CommitRefused:
		res, again := u.answer(ctx, f, http.StatusConflict, a.Body, digest)
		// A refusal another upload can fix goes the separate commit's way.
		return res, !again
	}
	return result{}, false
}

// commit asks the town hall for the receipt of an uploaded case. again reports a refusal
// that another upload can fix.
func (u *Uplink) commit(ctx context.Context, f *flight, uploadURL, digest string) (res result, again bool) {
	body, err := json.Marshal(receipt.CommitRequest{UploadID: path.Base(uploadURL), SHA256: digest})
	if err != nil {
		return result{code: "internal", err: err}, false
	}
	cctx, cancel := context.WithTimeout(ctx, u.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, u.base+"/v1/packets/"+f.it.CaseID, bytes.NewReader(body))
	if err != nil {
		return result{code: "internal", err: err}, false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := u.http.Do(req)
	if err != nil {
		return u.transportResult("commit", err), false
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return u.transportResult("commit", err), false
	}
	u.reached()
	return u.answer(ctx, f, resp.StatusCode, raw, digest)
}

// answer handles the town hall's answer to a commit (status and body): verify and deliver a
// receipt, or classify the refusal. again reports a refusal that another upload can fix.
func (u *Uplink) answer(ctx context.Context, f *flight, status int, raw []byte, digest string) (res result, again bool) {
	it := f.it
	if status != http.StatusOK {
		var p receipt.Problem
		if status >= 400 && status < 500 && json.Unmarshal(raw, &p) == nil && p.Code != "" {
			if receipt.Final(p.Code) {
				return result{final: true, code: p.Code, err: fmt.Errorf("commit: %d %s", status, p.Code)}, false
			}
			retry := p.Code == receipt.CodeUploadMissing || p.Code == receipt.CodeUploadIncomplete || p.Code == receipt.CodeUploadCorrupt
			return result{code: p.Code, err: fmt.Errorf("commit: %d %s", status, p.Code)}, retry
		}
		return result{code: fmt.Sprintf("http_%d", status), err: fmt.Errorf("commit: status %d", status)}, false
	}
	b, err := receipt.Verify(raw, u.ca, u.now())
	if err != nil {
		return result{code: "bad_receipt", err: err}, false
	}
	if b.CaseID != it.CaseID || b.KitID != u.kitID || b.SHA256 != digest {
		return result{code: "bad_receipt", err: errors.New("receipt is for another case, kit or packet")}, false
	}
	if f.prev != nil {
		<-f.prev.done // receipts are stored in the order the cases went out
	}
	if err := u.opts.Outbox.Deliver(ctx, it.CaseID, Receipt{Number: b.Number, Time: b.ReceivedAt, Raw: raw}); err != nil {
		return result{code: codeOutbox, err: err}, false
	}
	u.log.Info("caseDelivered", "case", it.CaseID, "number", b.Number, "bytes", len(raw))
	u.update(func(s *State) { s.Delivered++ })
	return result{delivered: true}, false
}

// transportResult classifies an error from a request: no HTTP answer means the link is down.
func (u *Uplink) transportResult(op string, err error) result {
	var se *tus.StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
		// The town hall's own refusals carry a code (unknown_kit from the TLS layer's
		// check, for instance): final ones park the item as for a commit.
		var p receipt.Problem
		if json.Unmarshal(se.Body, &p) == nil && receipt.Final(p.Code) {
			u.reached()
			return result{final: true, code: p.Code, err: err}
		}
	}
	if errors.As(err, &se) || errors.Is(err, tus.ErrProtocol) || errors.Is(err, tus.ErrOffsetMismatch) {
		u.reached()
		return result{code: op + "_" + codeOf(err), err: err}
	}
	return result{linkDown: true, code: op + "_" + codeOf(err), err: err}
}

func (u *Uplink) reached() {
	now := u.now()
	u.update(func(s *State) { s.Reachable, s.LastContact = true, now })
}

// codeOf maps an error to a short stable code for status and logs.
func codeOf(err error) string {
	var se *tus.StatusError
	var ue x509.UnknownAuthorityError
	var ce *tls.CertificateVerificationError
	switch {
	case errors.Is(err, errStalled):
		return "stalled"
	case errors.As(err, &se):
		return fmt.Sprintf("http_%d", se.Status)
	case errors.Is(err, tus.ErrProtocol):
		return "protocol"
	case errors.Is(err, tus.ErrOffsetMismatch):
		return "offset_mismatch"
	case errors.Is(err, tus.ErrInterrupted):
		return "interrupted"
	case errors.As(err, &ue), errors.As(err, &ce):
		return "tls_untrusted"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection_closed"
	}
	var rhe tls.RecordHeaderError
	var ae tls.AlertError
	var he x509.HostnameError
	var dnse *net.DNSError
	switch {
	case errors.As(err, &rhe), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// Something answers on the port but does not speak TLS: not a town hall. (net/http
		// turns the record error of a plain HTTP server into an unexported error text.)
		return "not_tls"
	case errors.As(err, &ae):
		return "tls_refused" // the peer ended the handshake (e.g. it does not know the kit's certificate)
	case errors.As(err, &he):
		return "tls_wrong_name"
	case errors.As(err, &dnse):
		return "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "no_route"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "network_" + oe.Op
	}
	return "network"
}

func (u *Uplink) housekeepingDue() bool {
	if u.opts.Visits == nil && u.opts.Audit == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastVisit.IsZero() || u.now().Sub(u.lastVisit) >= u.opts.VisitInterval
}

// housekeeping fetches visit packs and sends the audit log; it is due again after
// VisitInterval only if both went through.
func (u *Uplink) housekeeping(ctx context.Context) {
	ok := true
	if u.opts.Visits != nil {
		ok = u.fetchVisits(ctx) && ok
	}
	if u.revoked() {
		return
	}
	if u.opts.Audit != nil {
		if err := u.sendAudit(ctx); err != nil {
			if errors.Is(err, errRevoked) {
				u.revoke(ctx)
				return
			}
			u.log.Warn("auditSend", "code", codeOf(err), "err", err)
			ok = false
		}
	}
	if ok {
		u.mu.Lock()
		u.lastVisit = u.now()
		u.mu.Unlock()
	}
}

// auditBatch is how many audit entries go up in one request.
const auditBatch = 500

// sendAudit asks how far the town hall holds the audit log and sends the rest in batches.
func (u *Uplink) sendAudit(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 4*u.opts.RequestTimeout)
	defer cancel()
	hdr := u.queueHeader(ctx)
	var head receipt.AuditHead
	if err := u.doJSONHeader(ctx, hdr, http.MethodGet, "/v1/audit", nil, &head); err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	for {
		entries, err := u.opts.Audit.AuditEntries(ctx, head.LastSeq, auditBatch)
		if err != nil {
			return fmt.Errorf("audit entries: %w", err)
		}
		if len(entries) == 0 {
			return nil
		}
		if err := u.doJSONHeader(ctx, hdr, http.MethodPost, "/v1/audit", entries, &head); err != nil {
			return fmt.Errorf("audit batch: %w", err)
		}
		if head.LastSeq < entries[len(entries)-1].Seq {
			return fmt.Errorf("audit batch: town hall holds up to %d of %d", head.LastSeq, entries[len(entries)-1].Seq)
		}
	}
}

// queueHeader is the outbox's counts for the audit requests, counted once per exchange (the
// GET already reports them when there is nothing new to send). Without them the audit still
// goes up: the fleet view then shows the last counts it had.
func (u *Uplink) queueHeader(ctx context.Context) http.Header {
	if u.opts.Queue == nil {
		return nil
	}
	q, err := u.opts.Queue.QueueReport(ctx)
	if err != nil {
		u.log.Warn("queueReport", "err", err)
		return nil
	}
	return http.Header{receipt.QueueHeader: {q.String()}}
}

// doJSON sends in (if not nil) as JSON and decodes a 200 answer into out.
func (u *Uplink) doJSON(ctx context.Context, method, p string, in, out any) error {
	return u.doJSONHeader(ctx, nil, method, p, in, out)
}

// doJSONHeader is doJSON with extra request headers.
func (u *Uplink) doJSONHeader(ctx context.Context, hdr http.Header, method, p string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.base+p, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if u.opts.Version != "" {
		req.Header.Set(receipt.VersionHeader, u.opts.Version)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := u.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var pr receipt.Problem
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&pr)
		return statusError(resp.StatusCode, pr.Code)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}

// fetchVisits registers the kit's visit-pack recipient with the town hall (once per run),
// downloads the packs sealed to it, hands them to the sink and acknowledges each one stored,
// so the town hall deletes it. A pack the sink refuses is logged and left for its day to end.
func (u *Uplink) fetchVisits(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 4*u.opts.RequestTimeout)
	defer cancel()
	err := func() error {
		rcpt, err := u.opts.Visits.VisitRecipient()
		if err != nil || rcpt == "" {
			return err
		}
		if rcpt != u.registered {
			var echo struct {
				Recipient string `json:"recipient"`
			}
			if err := u.doJSON(ctx, http.MethodPut, "/v1/visits/recipient", map[string]string{"recipient": rcpt}, &echo); err != nil {
				return fmt.Errorf("visit recipient: %w", err)
			}
			u.registered = rcpt
		}
		packs, err := u.getVisits(ctx)
		if err != nil {
			return err
		}
		var refused error
		for _, p := range packs {
			if p.ID == "" || len(p.Pack) == 0 {
				continue
			}
			stored, err := u.opts.Visits.StoreVisitPack(ctx, p.ID, p.Pack)
			if err != nil {
				u.log.Warn("visitPackRefused", "visitPack", p.ID, "err", err)
				refused = errors.New("visit pack refused")
				continue
			}
			if stored {
				if err := u.ackVisit(ctx, p.ID); err != nil {
					return fmt.Errorf("acknowledge visit pack: %w", err)
				}
			}
		}
		return refused
	}()
	if errors.Is(err, errRevoked) {
		u.revoke(ctx)
		return false
	}
	if err != nil {
		u.log.Warn("visitsFetch", "code", codeOf(err), "err", err)
		return false
	}
	return true
}

type sealedVisit struct {
	ID   string `json:"id"`
	Pack []byte `json:"pack"`
}

// getVisits is GET /v1/visits: a day's packs may be megabytes, more than doJSON reads.
func (u *Uplink) getVisits(ctx context.Context) ([]sealedVisit, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base+"/v1/visits", nil)
	if err != nil {
		return nil, err
	}
	resp, err := u.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var pr receipt.Problem
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&pr)
		return nil, fmt.Errorf("visits: %w", statusError(resp.StatusCode, pr.Code))
	}
	var packs []sealedVisit
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&packs); err != nil {
		return nil, fmt.Errorf("visits: %w", err)
	}
	return packs, nil
}

// ackVisit tells the town hall the pack is stored (DELETE /v1/visits/{id}); a pack it no
// longer has counts as acknowledged.
func (u *Uplink) ackVisit(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.base+"/v1/visits/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	resp, err := u.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
