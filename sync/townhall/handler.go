package townhall

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"time"

	"github.com/google/uuid"
	tushandler "github.com/tus/tusd/v2/pkg/handler"
	expslog "golang.org/x/exp/slog"

	"koffer/sync/packet"
	"koffer/sync/receipt"
)

// FilesPath is where the tus endpoint is mounted; kits create uploads there.
const FilesPath = "/files/"

// kitHeader carries the verified kit id from the TLS layer to the tus hooks. Any value a
// client sends is removed first.
const kitHeader = "Koffer-Kit"

type ctxKey struct{}

// Handler serves the town hall's HTTP API. It must run behind TLS from ServerTLS: every
// request is attributed to the kit named by its verified client certificate, and kits that
// are not enrolled here are refused.
func (t *Townhall) Handler() (http.Handler, error) {
	composer, err := t.uploadStore()
	if err != nil {
		return nil, err
	}
	netTimeout := t.opts.NetworkTimeout
	if netTimeout <= 0 {
		netTimeout = 10 * time.Second
	}
	maxSize := t.maxPacket()
	c := &commitHandler{t: t, uploads: composer}
	tusd, err := tushandler.NewHandler(tushandler.Config{
		BasePath:                         FilesPath,
		StoreComposer:                    composer,
		MaxSize:                          maxSize,
		DisableDownload:                  true,
		DisableConcatenation:             true,
		NetworkTimeout:                   netTimeout,
		AcquireLockTimeout:               5 * time.Second,
		GracefulRequestCompletionTimeout: 2 * time.Second,
		// tusd logs every request at info level through golang.org/x/exp/slog, whose types
		// differ from log/slog's; our own commit and upload lines are enough.
		Logger: expslog.New(expslog.NewTextHandler(io.Discard, nil)),
		PreUploadCreateCallback: func(ev tushandler.HookEvent) (tushandler.HTTPResponse, tushandler.FileInfoChanges, error) {
			return t.preCreate(ev, composer.Core)
		},
		// The request that completes an upload also commits it: the receipt comes back on
		// that answer, one round trip per case.
		PreFinishResponseCallback: c.preFinish,
		// The guard let only the owner this far; its record goes with the upload.
		PreUploadTerminateCallback: func(ev tushandler.HookEvent) (tushandler.HTTPResponse, error) {
			return tushandler.HTTPResponse{}, t.db.DeleteUpload(ev.Context, recordID(ev.Upload.ID))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("tus handler: %w", err)
	}

	mux := http.NewServeMux()
	guarded := t.guardUploads(tusd) // tusguard.go: per-kit isolation before tusd
	mux.Handle(FilesPath, http.StripPrefix(FilesPath, guarded))
	mux.Handle(FilesPath[:len(FilesPath)-1], http.StripPrefix(FilesPath[:len(FilesPath)-1], guarded))
	mux.HandleFunc("POST /v1/packets/{case}", c.commit)
	mux.HandleFunc("GET /v1/visits", t.getVisits)
	mux.HandleFunc("PUT /v1/visits/recipient", t.putVisitRecipient)
	mux.HandleFunc("DELETE /v1/visits/{id}", t.deleteVisit)
	mux.HandleFunc("GET /v1/audit", t.getAudit)
	mux.HandleFunc("POST /v1/audit", t.postAudit)
	return t.authenticate(mux), nil
}

// authenticate resolves the calling kit from its client certificate and refuses kits that are
// not enrolled (403 unknown_kit).
func (t *Townhall) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(kitHeader)
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			problem(w, http.StatusUnauthorized, receipt.CodeUnknownKit, "client certificate required")
			return
		}
		leaf := r.TLS.VerifiedChains[0][0]
		kitID := leaf.Subject.CommonName
		k, err := t.db.Kit(r.Context(), kitID)
		if errors.Is(err, ErrNotFound) {
			t.log.Warn("unknownKit", "kit", kitID)
			problem(w, http.StatusForbidden, receipt.CodeUnknownKit, "kit not enrolled here")
			return
		}
		if err != nil {
			t.log.Error("kitLookup", "err", err)
			problem(w, http.StatusInternalServerError, receipt.CodeInternal, "database")
			return
		}
		// The name alone is not the kit: a certificate issued before a re-enrolment carries
		// the old key and dies with it.
		if pub, ok := leaf.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(ed25519.PublicKey(k.PublicKey)) {
			t.log.Warn("staleKitCertificate", "kit", kitID)
			problem(w, http.StatusForbidden, receipt.CodeUnknownKit, "certificate does not carry the enrolled key")
			return
		}
		if !t.admitKit(w, r, kitID) {
			return
		}
		r.Header.Set(kitHeader, kitID)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, k)))
	})
}

func callerKit(r *http.Request) Kit {
	k, _ := r.Context().Value(ctxKey{}).(Kit)
	return k
}

// preCreate stamps the calling kit into the upload's metadata and records the upload. A kit
// may name its upload with an "upload_key" (a UUID it stored before sending anything): the key
// becomes the tus upload id, so the kit knows the upload URL before the first byte even when
// the data travels in the creation request.
func (t *Townhall) preCreate(ev tushandler.HookEvent, uploads tushandler.DataStore) (tushandler.HTTPResponse, tushandler.FileInfoChanges, error) {
	kitID := ev.HTTPRequest.Header.Get(kitHeader)
	if kitID == "" {
		return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{}, tushandler.NewError("ERR_NO_KIT", "no kit", http.StatusForbidden)
	}
	meta := tushandler.MetaData{}
	for k, v := range ev.Upload.MetaData {
		meta[k] = v
	}
	meta["kit"] = kitID
	id := uuid.NewString()
	if key, ok := meta["upload_key"]; ok {
		k, err := uuid.Parse(key)
		if err != nil || k.String() != key {
			return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{}, tushandler.NewError("ERR_UPLOAD_KEY", "upload_key must be a canonical UUID", http.StatusBadRequest)
		}
		if _, err := uploads.GetUpload(ev.Context, key); err == nil {
			return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{}, tushandler.NewError("ERR_UPLOAD_EXISTS", "upload_key already used", http.StatusConflict)
		}
		id = key
	}
	caseID := meta["case_id"]
	rec := UploadRecord{ID: id, KitID: kitID, CaseID: caseID, Size: ev.Upload.Size, CreatedAt: t.now().UTC()}
	if err := t.admitUpload(ev.Context, rec, ev.Upload.SizeIsDeferred); err != nil { // tusguard.go
		return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{}, err
	}
	return tushandler.HTTPResponse{}, tushandler.FileInfoChanges{ID: id, MetaData: meta}, nil
}

type commitHandler struct {
	t       *Townhall
	uploads *tushandler.StoreComposer
}

type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.code + ": " + e.message }

func problem(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(receipt.Problem{Code: code, Message: msg})
}

func (c *commitHandler) commit(w http.ResponseWriter, r *http.Request) {
	log := c.t.log.With("kit", callerKit(r).ID, "case", r.PathValue("case"))
	raw, err := c.commitCase(r.Context(), callerKit(r), r)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{status: http.StatusInternalServerError, code: receipt.CodeInternal, message: "internal error"}
			log.Error("commitFailed", "err", err)
		} else {
			log.Warn("commitRefused", "code", he.code, "reason", he.message)
		}
		problem(w, he.status, he.code, he.message)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(raw)
}

func (c *commitHandler) commitCase(ctx context.Context, kit Kit, r *http.Request) ([]byte, error) {
	caseID := r.PathValue("case")
	var req receipt.CommitRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&req); err != nil || req.UploadID == "" {
		return nil, &httpError{http.StatusBadRequest, receipt.CodeBadRequest, "body must be {\"upload_id\": ...}"}
	}
	return c.commitUpload(ctx, kit, caseID, path.Base(req.UploadID), req.SHA256)
}

// preFinish commits an upload the moment its last byte arrives, if it names its case (the
// kit's uploads do), and puts the receipt or the refusal on the answer. Internal errors leave
// the answer plain: the kit falls back to POST /v1/packets, which tries again.
func (c *commitHandler) preFinish(ev tushandler.HookEvent) (tushandler.HTTPResponse, error) {
	caseID := ev.Upload.MetaData["case_id"]
	if caseID == "" {
		return tushandler.HTTPResponse{}, nil
	}
	kitID := ev.Upload.MetaData["kit"]
	log := c.t.log.With("kit", kitID, "case", caseID)
	// The commit runs to its end even if the kit hangs up now: a lost answer is recovered by
	// committing again, a half-done commit is not.
	ctx := context.WithoutCancel(ev.Context)
	k, err := c.t.db.Kit(ctx, kitID)
	if err != nil {
		log.Error("commitFailed", "err", err)
		return tushandler.HTTPResponse{}, nil
	}
	raw, err := c.commitUpload(ctx, k, caseID, ev.Upload.ID, ev.Upload.MetaData["packet_sha256"])
	resp := tushandler.HTTPResponse{Header: tushandler.HTTPHeader{"Content-Type": "application/json"}}
	if ev.HTTPRequest.Method == http.MethodPatch {
		resp.StatusCode = http.StatusOK // 204 has no body
	}
	var he *httpError
	switch {
	case err == nil:
		resp.Header[receipt.CommitHeader] = receipt.CommitReceipt
		resp.Body = string(raw)
	case errors.As(err, &he):
		log.Warn("commitRefused", "code", he.code, "reason", he.message)
		b, _ := json.Marshal(receipt.Problem{Code: he.code, Message: he.message})
		resp.Header[receipt.CommitHeader] = receipt.CommitRefused
		resp.Body = string(b)
	default:
		log.Error("commitFailed", "err", err)
		return tushandler.HTTPResponse{}, nil
	}
	return resp, nil
}

// commitUpload verifies a complete upload as the kit's packet of caseID, stores it, numbers
// the case and returns the signed receipt; a case committed before gets its receipt again.
// wantSHA, if set, is the kit's hash of the packet.
func (c *commitHandler) commitUpload(ctx context.Context, kit Kit, caseID, uploadID, wantSHA string) ([]byte, error) {
	if id, err := uuid.Parse(caseID); err != nil || id.String() != caseID {
		return nil, &httpError{http.StatusBadRequest, receipt.CodeBadRequest, "case id is not a canonical UUID"}
	}
	req := receipt.CommitRequest{UploadID: uploadID, SHA256: wantSHA}

	// Committed before: the same receipt again (at-least-once delivery, exactly-once effect).
	if prev, err := c.t.db.Case(ctx, caseID); err == nil {
		return c.again(ctx, kit, prev, uploadID)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}

	// Another kit's upload is refused before anything is read or terminated.
	if err := c.t.ownUpload(ctx, kit.ID, uploadID); err != nil {
		var he *httpError
		if errors.As(err, &he) && he.code == receipt.CodeUploadMissing {
			he.status = http.StatusConflict
		}
		return nil, err
	}
	up, err := c.uploads.Core.GetUpload(ctx, uploadID)
	if err != nil {
		return nil, &httpError{http.StatusConflict, receipt.CodeUploadMissing, "no such upload"}
	}
	info, err := up.GetInfo(ctx)
	if err != nil {
		return nil, &httpError{http.StatusConflict, receipt.CodeUploadMissing, "no such upload"}
	}
	if info.MetaData["kit"] != kit.ID {
		return nil, &httpError{http.StatusForbidden, receipt.CodeKitMismatch, "upload belongs to another kit"}
	}
	if info.SizeIsDeferred || info.Offset != info.Size {
		return nil, &httpError{http.StatusConflict, receipt.CodeUploadIncomplete, fmt.Sprintf("upload at %d of %d bytes", info.Offset, info.Size)}
	}

	// Verified streaming, outside any lock: commits of other cases go on meanwhile.
	open := func() (io.ReadCloser, error) { return up.GetReader(ctx) }
	hdr, m, sum, verr := packet.VerifyStream(open, info.Size, ed25519.PublicKey(kit.PublicKey), c.t.identity)
	digest := hex.EncodeToString(sum[:])
	if req.SHA256 != "" && sum != ([sha256.Size]byte{}) && req.SHA256 != digest {
		// The bytes differ from what the kit holds: a transfer fault, not the kit's packet.
		c.terminate(ctx, kit.ID, uploadID)
		return nil, &httpError{http.StatusConflict, receipt.CodeUploadCorrupt, "upload differs from the kit's packet hash"}
	}
	switch {
	case hdr == (packet.Header{}) && verr != nil && !errors.Is(verr, packet.ErrMalformed):
		return nil, verr // the store failed, not the packet
	case hdr == (packet.Header{}):
		return nil, &httpError{http.StatusUnprocessableEntity, receipt.CodeBadPacket, "no packet header"}
	case hdr.CaseID != caseID:
		return nil, &httpError{http.StatusUnprocessableEntity, receipt.CodeBadPacket, "packet is for another case"}
	case hdr.KitID != kit.ID:
		return nil, &httpError{http.StatusForbidden, receipt.CodeKitMismatch, "packet names another kit"}
	case errors.Is(verr, packet.ErrSignature):
		return nil, &httpError{http.StatusUnprocessableEntity, receipt.CodeBadSignature, "packet signature invalid"}
	case verr != nil:
		return nil, &httpError{http.StatusUnprocessableEntity, receipt.CodeBadPacket, "packet does not open"}
	}

	if err := c.t.checkRevokedSeal(ctx, kit.ID, m); err != nil { // backoffice.go
		return nil, err
	}

	// The packet store takes bytes: at most maxStoring packets are in memory at once, and only
	// the bytes verified above are stored.
	select {
	case c.t.storing <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.t.storing }()
	data, err := readAll(open, info.Size)
	if err != nil {
		return nil, err
	}
	if sha256.Sum256(data) != sum {
		return nil, errors.New("commit: upload changed while it was verified")
	}

	// One commit of a case at a time; numbering is the database's (AddCase).
	unlock := c.t.commitMu.lock(caseID)
	defer unlock()
	if prev, err := c.t.db.Case(ctx, caseID); err == nil {
		return c.again(ctx, kit, prev, uploadID)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}

	// Durable packet first, then the row: a crash in between leaves a packet without a row,
	// which the next commit of the same case overwrites (a case's packet never changes).
	if err := c.t.packets.PutPacket(ctx, caseID, data); err != nil {
		return nil, err
	}
	now := c.t.now().UTC()
	row, created, err := c.t.db.AddCase(ctx, Case{
		CaseID: caseID, KitID: kit.ID, Service: m.Service, ReceivedAt: now,
		SHA256: digest, Size: int64(len(data)),
	}, func(number string) ([]byte, error) {
		return c.t.signer.Sign(receipt.Body{CaseID: caseID, KitID: kit.ID, Number: number, ReceivedAt: now, SHA256: digest})
	})
	if err != nil {
		return nil, err
	}
	if !created { // another replica committed it meanwhile
		return c.again(ctx, kit, row, uploadID)
	}
	c.terminate(ctx, kit.ID, uploadID)
	c.t.log.Info("caseReceived", "kit", kit.ID, "case", caseID, "number", row.Number, "bytes", len(data))
	c.t.noteAfterRevocation(ctx, kit.ID, caseID)
	return row.Receipt, nil
}

// readAll reads an upload of size bytes into one buffer of exactly that size.
func readAll(open func() (io.ReadCloser, error), size int64) ([]byte, error) {
	rc, err := open()
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	defer rc.Close()
	data := make([]byte, size)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	return data, nil
}

// again answers a case committed before: the same receipt (at-least-once delivery,
// exactly-once effect), unless another kit sent it.
func (c *commitHandler) again(ctx context.Context, kit Kit, prev Case, uploadID string) ([]byte, error) {
	if prev.KitID != kit.ID {
		return nil, &httpError{http.StatusConflict, receipt.CodeCaseConflict, "case delivered by another kit"}
	}
	c.terminate(ctx, kit.ID, uploadID)
	return prev.Receipt, nil
}

// terminate removes the kit's upload that is no longer needed; another kit's is left alone
// (a commit names any upload id it likes). A failure keeps the record, so the janitor purges
// the upload later.
func (c *commitHandler) terminate(ctx context.Context, kitID, uploadID string) {
	if err := c.t.ownUpload(ctx, kitID, uploadID); err != nil {
		return
	}
	up, err := c.uploads.Core.GetUpload(ctx, uploadID)
	if err == nil {
		err = c.uploads.Terminater.AsTerminatableUpload(up).Terminate(ctx)
	}
	if err != nil && !errors.Is(err, tushandler.ErrNotFound) {
		c.t.log.Warn("terminateUpload", "upload", uploadID, "err", err)
		return
	}
	if err := c.t.db.DeleteUpload(ctx, recordID(uploadID)); err != nil {
		c.t.log.Warn("forgetUpload", "upload", uploadID, "err", err)
	}
}

// maxAuditBatch bounds one POST /v1/audit.
const maxAuditBatch = 1000

// kitVersion is the version the kit sent with its audit batch: at most 64 printable ASCII
// characters, anything else is dropped (a kit's version is shown, never trusted).
func kitVersion(r *http.Request) string {
	v := r.Header.Get(receipt.VersionHeader)
	if len(v) > 64 {
		return ""
	}
	for _, c := range v {
		if c < '!' || c > '~' {
			return ""
		}
	}
	return v
}

func (t *Townhall) getAudit(w http.ResponseWriter, r *http.Request) {
	t.noteQueue(r) // queue.go: the kit reports its outbox with every audit request
	last, err := t.db.AuditHead(r.Context(), callerKit(r).ID)
	if err != nil {
		t.log.Error("auditHead", "err", err)
		problem(w, http.StatusInternalServerError, receipt.CodeInternal, "database")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(receipt.AuditHead{LastSeq: last})
}

// postAudit appends a batch of the kit's audit log. The batch must continue the chain the
// town hall holds (seq and prev_hash); each entry's own hash is then recomputed and a break
// flagged (auditcheck.go).
func (t *Townhall) postAudit(w http.ResponseWriter, r *http.Request) {
	var entries []receipt.AuditEntry
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&entries); err != nil || len(entries) > maxAuditBatch {
		problem(w, http.StatusBadRequest, receipt.CodeBadRequest, "body must be a JSON array of at most 1000 audit entries")
		return
	}
	last, err := t.db.AddAudit(r.Context(), callerKit(r).ID, entries)
	if errors.Is(err, errAuditGap) {
		problem(w, http.StatusConflict, receipt.CodeAuditGap, "batch does not continue the stored chain")
		return
	}
	if err != nil {
		t.log.Error("auditAdd", "err", err)
		problem(w, http.StatusInternalServerError, receipt.CodeInternal, "database")
		return
	}
	if v := kitVersion(r); v != "" {
		// After the batch: a failure here is answered as one, and the kit's retry of the
		// same batch is skipped as stored and sets the version again.
		if err := t.db.SetKitVersion(r.Context(), callerKit(r).ID, v); err != nil {
			t.log.Error("kitVersion", "err", err)
			problem(w, http.StatusInternalServerError, receipt.CodeInternal, "database")
			return
		}
	}
	t.checkAuditChain(r.Context(), callerKit(r).ID, entries) // auditcheck.go
	t.noteQueue(r)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(receipt.AuditHead{LastSeq: last})
}

// Serve serves the API over mutual TLS on ln until ctx ends, then shuts down gracefully.
func (t *Townhall) Serve(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	h, err := t.Handler()
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(t.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, cfg)) }()
	jctx, stopJanitor := context.WithCancel(ctx)
	janitorDone := make(chan struct{})
	go func() { defer close(janitorDone); t.janitor(jctx) }()
	defer func() { stopJanitor(); <-janitorDone }()
	select {
	case err := <-errc:
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
