package townhall

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	tushandler "github.com/tus/tusd/v2/pkg/handler"

	"koffer/sync/receipt"
)

// Bounds of the tus layer, unless Options say otherwise.
const (
	DefaultMaxOpenUploads = 8
	DefaultUploadTTL      = 24 * time.Hour
)

// maxStoring bounds the packets held in memory at once by commits on their way into the
// packet store (which takes bytes); verification itself streams.
const maxStoring = 2

// keyedMutex is one mutex per key, forgotten when nobody holds or waits for it.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu sync.Mutex
	n  int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.n++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.n--; e.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// uploadStore is the one tusd store composer of this town hall: the handler and the janitor
// must share its locker, or a purge could terminate an upload a PATCH is writing.
func (t *Townhall) uploadStore() (*tushandler.StoreComposer, error) {
	t.composerOnce.Do(func() {
		c := tushandler.NewStoreComposer()
		t.uploads.UseIn(c)
		if !c.UsesTerminater || !c.UsesLocker {
			t.composerErr = errors.New("tus handler: the upload store must terminate uploads and lock them")
			return
		}
		t.composer = c
	})
	return t.composer, t.composerErr
}

// uploadQuota is how many uploads and bytes one kit may hold open, and when an upload is stale.
func (t *Townhall) uploadQuota() (open int, bytes int64, ttl time.Duration) {
	open, bytes, ttl = t.opts.MaxOpenUploads, t.opts.MaxUploadBytes, t.opts.UploadTTL
	if open <= 0 {
		open = DefaultMaxOpenUploads
	}
	if bytes <= 0 {
		bytes = 4 * t.maxPacket() // a few packets of the largest size in flight
	}
	if ttl <= 0 {
		ttl = DefaultUploadTTL
	}
	return open, bytes, ttl
}

func (t *Townhall) maxPacket() int64 {
	if t.opts.MaxPacket > 0 {
		return t.opts.MaxPacket
	}
	return 256 << 20
}

// recordID is the part of a tus upload id the town hall chose in preCreate: tusd's S3 store
// appends "+" and its multipart id.
func recordID(tusID string) string {
	id, _, _ := strings.Cut(tusID, "+")
	return id
}

// ownUpload refuses an upload the kit did not create: 404 upload_missing for one not
// recorded, 403 kit_mismatch for another kit's.
func (t *Townhall) ownUpload(ctx context.Context, kitID, tusID string) error {
	u, err := t.db.Upload(ctx, recordID(tusID))
	if errors.Is(err, ErrNotFound) {
		return &httpError{http.StatusNotFound, receipt.CodeUploadMissing, "no such upload"}
	}
	if err != nil {
		return err
	}
	if u.KitID != kitID {
		return &httpError{http.StatusForbidden, receipt.CodeKitMismatch, "upload belongs to another kit"}
	}
	return nil
}

// guardUploads runs before tusd: a request on an upload (HEAD, PATCH, DELETE, GET) passes only
// for the kit that created it, and a creation's answer records tusd's id for the janitor.
func (t *Townhall) guardUploads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.Trim(r.URL.Path, "/") // under http.StripPrefix(FilesPath): the upload id
		switch {
		case r.Method == http.MethodOptions:
		case id == "":
			if r.Method == http.MethodPost {
				// A deferred length would escape the byte quota. Refused here, the same on
				// every packet store (tusd's S3 store would answer 501 before any hook).
				if r.Header.Get("Upload-Defer-Length") != "" {
					problem(w, http.StatusBadRequest, receipt.CodeBadRequest, "the upload length must be declared")
					return
				}
				w = &createdWriter{ResponseWriter: w, ctx: r.Context(), t: t}
			}
		default:
			kitID := callerKit(r).ID
			if err := t.ownUpload(r.Context(), kitID, id); err != nil {
				var he *httpError
				if !errors.As(err, &he) {
					t.log.Error("uploadLookup", "err", err)
					he = &httpError{http.StatusInternalServerError, receipt.CodeInternal, "database"}
				} else {
					t.log.Warn("uploadRefused", "kit", kitID, "upload", id, "code", he.code)
				}
				problem(w, he.status, he.code, he.message)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// createdWriter notes the upload id of a creation answer before the answer leaves.
type createdWriter struct {
	http.ResponseWriter
	ctx  context.Context
	t    *Townhall
	done bool
}

func (w *createdWriter) WriteHeader(status int) {
	if !w.done && status == http.StatusCreated {
		if loc := w.Header().Get("Location"); loc != "" {
			tusID := path.Base(loc)
			if err := w.t.db.SetUploadTusID(context.WithoutCancel(w.ctx), recordID(tusID), tusID); err != nil {
				w.t.log.Warn("uploadRecord", "upload", tusID, "err", err)
			}
		}
	}
	w.done = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *createdWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets tusd's http.ResponseController reach the connection (read deadlines, flush).
func (w *createdWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// admitUpload checks a new upload of size bytes against the kit's quota and records it; the
// caller holds quotaMu, so two creations of one kit cannot both take the last place. With
// several replicas two creations may still meet: the overshoot is bounded by the replicas.
func (t *Townhall) admitUpload(ctx context.Context, u UploadRecord, deferred bool) error {
	if deferred {
		return tushandler.NewError("ERR_UPLOAD_LENGTH_REQUIRED", "the upload length must be declared", http.StatusBadRequest)
	}
	maxOpen, maxBytes, _ := t.uploadQuota()
	t.quotaMu.Lock()
	defer t.quotaMu.Unlock()
	open, err := t.db.OpenUploads(ctx, u.KitID)
	if err != nil {
		return err
	}
	held, n := u.Size, 0
	for _, o := range open {
		if o.ID == u.ID {
			continue // a retried creation under the same upload_key: counted once
		}
		held += o.Size
		n++
	}
	if n >= maxOpen || held > maxBytes {
		t.log.Warn("uploadQuota", "kit", u.KitID, "open", n, "bytes", held-u.Size)
		return tushandler.NewError("ERR_UPLOAD_QUOTA", "too many open uploads for this kit: commit or wait", http.StatusTooManyRequests)
	}
	return t.db.AddUpload(ctx, u)
}

// PurgeStaleUploads terminates every upload created more than the upload TTL ago (files or S3
// objects, through tusd's store) and forgets it; it returns how many it purged. Serve runs it
// periodically.
func (t *Townhall) PurgeStaleUploads(ctx context.Context) (int, error) {
	comp, err := t.uploadStore()
	if err != nil {
		return 0, err
	}
	_, _, ttl := t.uploadQuota()
	ups, err := t.db.OpenUploads(ctx, "")
	if err != nil {
		return 0, err
	}
	cutoff := t.now().Add(-ttl)
	n := 0
	var errs []error
	for _, u := range ups {
		if !u.CreatedAt.Before(cutoff) {
			break // oldest first
		}
		if err := t.terminateStale(ctx, comp, u); err != nil {
			errs = append(errs, fmt.Errorf("purge upload %s: %w", u.ID, err))
			continue
		}
		if err := t.db.DeleteUpload(ctx, u.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if n > 0 {
		t.log.Info("staleUploadsPurged", "count", n)
	}
	return n, errors.Join(errs...)
}

// terminateStale removes one upload's data under its lock; one tusd no longer has is gone.
func (t *Townhall) terminateStale(ctx context.Context, comp *tushandler.StoreComposer, u UploadRecord) error {
	tusID := u.TusID
	if tusID == "" {
		tusID = u.ID // the creation answer never went out; on files the ids are the same
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lock, err := comp.Locker.NewLock(tusID)
	if err != nil {
		return err
	}
	if err := lock.Lock(lctx, func() {}); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() { _ = lock.Unlock() }()
	up, err := comp.Core.GetUpload(lctx, tusID)
	if errors.Is(err, tushandler.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := up.GetInfo(lctx); errors.Is(err, tushandler.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	return comp.Terminater.AsTerminatableUpload(up).Terminate(lctx)
}

// janitor purges stale uploads now and then until ctx ends.
func (t *Townhall) janitor(ctx context.Context) {
	_, _, ttl := t.uploadQuota()
	every := min(max(ttl/24, time.Minute), time.Hour)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := t.PurgeStaleUploads(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("purgeUploads", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
