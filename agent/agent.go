// Package agent wires the kit together: store, keys, case rules, packets, devices and sync. It
// is the only package that imports all the others; cmd/koffer's `agent` command runs Serve.
package agent

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/coreos/go-systemd/v22/daemon"

	"koffer/agent/casework"
	"koffer/agent/client"
	"koffer/agent/keys"
	"koffer/agent/localapi"
	"koffer/devices/profile"
	"koffer/store"
	"koffer/sync/packet"
	"koffer/sync/uplink"
)

// Runner is a long-running part the agent starts and stops with itself (the uplink).
type Runner interface {
	Run(ctx context.Context) error
}

// Options configure an Agent. Zero values mean default.
type Options struct {
	DataDir  string
	Config   Config // from the config file, flags applied
	Logger   *slog.Logger
	Now      func() time.Time
	Version  string
	Training bool // simulated devices; also required to run a training kit

	// UI is served on Config.Listen (agent/web plugs in here), beside GET /metrics. Without
	// it the loopback listener answers GET /v1/status and GET /metrics only.
	UI http.Handler
	// Runners run beside the API until shutdown (sync/uplink plugs in here).
	Runners []Runner
	// OnSealed is called after a packet is durably in the outbox (wakes the uplink).
	OnSealed func(caseID string)
}

// Agent is the running kit.
type Agent struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	store   *store.Store
	kit     *keys.Kit
	sealer  *packet.Sealer
	uplink  *uplink.Uplink // nil without a town hall
	metrics http.Handler   // GET /metrics on the loopback listener
	started time.Time
	prof    *profile.Profile // the kit profile; nil: a kit without devices
	devices *kitDevices      // built from prof, or the simulators in training mode

	pending pendingVisits // visit packs waiting for a login
	logins  loginThrottle // failed logins per name and in total (logins.go)
	damaged error         // set once at start when the database fails its quick check (dbcheck.go)

	// unwrap is keys.Unwrap; tests count its calls (logins_test.go).
	unwrap func(blob, passphrase []byte) (keys.DataKey, error)

	core *casework.Core // the application core; the UI and the local API are its clients

	// sessions hold the data key while any caseworker is logged in; an idle timer wipes it.
	sessions keys.Keeper
}

// New loads the kit identity and opens the store. It does not listen yet (Serve does).
func New(ctx context.Context, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Config.IdleLock == 0 {
		opts.Config.IdleLock = 15 * time.Minute
	}
	if opts.Config.ShutdownTimeout == 0 {
		opts.Config.ShutdownTimeout = 10 * time.Second
	}
	if opts.Config.KeepDelivered == 0 {
		opts.Config.KeepDelivered = 24 * time.Hour
	}
	a := &Agent{opts: opts, log: opts.Logger.With("subsystem", "agent"), now: opts.Now, started: opts.Now(), unwrap: keys.Unwrap}
	a.sessions.Idle, a.sessions.Now = opts.Config.IdleLock, opts.Now
	kit, err := keys.LoadKit(opts.DataDir)
	if err != nil {
		return nil, err
	}
	if kit.Training && !opts.Training {
		a.log.Warn("trainingKitWithRealDevices")
	}
	if !kit.Training && opts.Training {
		return nil, errors.New("this kit is enrolled with a town hall: training mode would send fictional cases there; use a separate data directory (koffer init --training)")
	}
	a.kit = kit
	key, err := kit.Bundle.SigningKey()
	if err != nil {
		return nil, fmt.Errorf("kit signing key: %w", err)
	}
	rcpt, err := kit.Bundle.AgeRecipient()
	if err != nil {
		return nil, fmt.Errorf("town hall recipient: %w", err)
	}
	a.sealer = &packet.Sealer{KitID: kit.Bundle.KitID, Key: key, Recipient: rcpt, Now: opts.Now}
	a.store, err = store.Open(ctx, opts.DataDir, store.Options{Logger: opts.Logger, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	a.checkStoreAtStart(ctx)
	a.opts.Runners = append(a.opts.Runners, &memoryTrimmer{log: a.log})
	a.core = a.newCore()
	if err := a.startUplink(); err != nil {
		_ = a.store.Close()
		return nil, err
	}
	if a.prof, err = profile.Resolve(opts.Config.Profile); err != nil {
		_ = a.store.Close()
		return nil, err
	}
	w, err := a.observe()
	if err != nil {
		_ = a.store.Close()
		return nil, err
	}
	if a.devices, err = buildDevices(opts.Training, a.prof, opts.Logger); err != nil {
		_ = a.store.Close()
		return nil, err
	}
	if w != nil {
		a.devices.attached = w.Current
		w.Hold = a.devices.holdBus
	}
	for _, d := range a.devices.states() {
		a.log.Info("device", "kind", d.Kind, "driver", d.Driver, "address", d.Address, "state", d.State)
	}
	return a, nil
}

// Devices are the kit's devices for the caseworker UI: from the kit profile, or the
// simulators in training mode.
func (a *Agent) Devices() WebDevices { return a.devices.web }

// Store is the agent's store (for the wiring of sync/uplink).
func (a *Agent) Store() *store.Store { return a.store }

// Kit is the kit identity (enrollment bundle).
func (a *Agent) Kit() *keys.Kit { return a.kit }

// TrainingIdentity returns the fake town hall's identity of a training kit (nil otherwise), so
// a training town hall can open this kit's packets.
func (a *Agent) TrainingIdentity() (*age.X25519Identity, error) {
	if !a.kit.Training {
		return nil, nil
	}
	return age.ParseX25519Identity(a.kit.TownHall)
}

// Close releases the store and the devices. Serve closes them itself on return.
func (a *Agent) Close() error {
	return errors.Join(a.devices.close(context.Background()), a.store.Close())
}

// Serve runs the agent until ctx ends: it takes the data directory lock, removes files a crash
// left behind, listens on the unix socket (0600) and on the loopback address if configured,
// tells systemd it is ready, and shuts down gracefully when ctx is cancelled.
func (a *Agent) Serve(ctx context.Context) (err error) {
	defer func() { err = errors.Join(err, a.devices.close(context.WithoutCancel(ctx)), a.store.Close()) }()
	unlock, err := lockDir(a.opts.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := a.store.RemoveOrphans(ctx); err != nil {
		return err
	}

	sock := filepath.Join(a.opts.DataDir, client.SocketName)
	_ = os.Remove(sock) // a stale socket of a killed agent; the lock says nobody else serves
	ul, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ul.Close()
		return fmt.Errorf("listen %s: %w", sock, err)
	}
	api := localapi.NewHandler(a, a.opts.Logger)
	// Every request derives from base: cancelling it at shutdown ends long-lived requests (a
	// browser's event stream, a scan waiting for paper), so shutdown does not wait them out.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	baseCtx := func(net.Listener) context.Context { return base }
	servers := []*http.Server{{Handler: api, ReadHeaderTimeout: 10 * time.Second, BaseContext: baseCtx}}
	listeners := []net.Listener{ul}
	if a.opts.Config.Listen != "" {
		tl, err := listenLoopback(a.opts.Config.Listen)
		if err != nil {
			ul.Close()
			return err
		}
		servers = append(servers, &http.Server{Handler: a.loopbackHandler(api), ReadHeaderTimeout: 10 * time.Second, BaseContext: baseCtx})
		listeners = append(listeners, tl)
		a.log.Info("listening", "addr", tl.Addr().String())
	}

	runCtx, stopRunners := context.WithCancel(ctx)
	defer stopRunners()
	var wg sync.WaitGroup
	errc := make(chan error, len(servers)+len(a.opts.Runners))
	for i, srv := range servers {
		wg.Go(func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve: %w", err)
			}
		})
	}
	wg.Go(func() { a.janitor(runCtx) })
	for _, r := range a.opts.Runners {
		wg.Go(func() {
			if err := r.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- err
			}
		})
	}
	mode := "live"
	if a.opts.Training {
		mode = "training"
	}
	a.log.Info("ready", "socket", sock, "kitId", a.kit.Bundle.KitID, "mode", mode, "startupMs", time.Since(a.started).Milliseconds())
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		a.log.Warn("sdNotifyFailed", "err", err)
	}
	wg.Go(func() { a.feedWatchdog(runCtx) })

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	a.log.Info("stopping")
	stopRunners()
	cancelBase()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.Config.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(sctx); serr != nil {
			// A handler that ignores its context: cut its connection rather than hang.
			a.log.Warn("shutdownForced", "err", serr)
			_ = srv.Close()
		}
	}
	wg.Wait()
	a.Logout()
	_ = os.Remove(sock)
	a.log.Info("stopped")
	return err
}

func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("listen %s: only loopback addresses are allowed", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return l, nil
}

// lockDir takes an exclusive lock on DIR/koffer.lock so that two agents never share a data
// directory (and RemoveOrphans never races another writer).
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "koffer.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data directory: another koffer agent uses %s", dir)
	}
	return func() { f.Close() }, nil
}

// Login unwraps the data key with a caseworker's passphrase and opens their session: the key
// stays in memory while any caseworker's session is open (Lock ends one, Logout all, and one
// idle for IdleLock ends by itself). A wrong passphrase returns keys.ErrWrongPassphrase.
func (a *Agent) Login(ctx context.Context, name string, passphrase []byte) error {
	if err := a.logins.check(name, a.now()); err != nil {
		return err
	}
	cw, err := a.store.Caseworker(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && cw.Disabled:
		// No probing for names: an unknown or disabled name costs the argon2id work of a
		// wrong passphrase (under the same keys.MaxConcurrentKDF bound) and counts as a failure.
		_, _ = a.unwrap(a.dummyWrapping(ctx), passphrase)
		a.logins.record(name, false, a.now())
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
		return fmt.Errorf("login: caseworker disabled")
	case err != nil:
		return fmt.Errorf("login: %w", err)
	}
	k, err := a.unwrap(cw.Wrapped, passphrase)
	a.logins.record(name, err == nil, a.now())
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	a.upgradeWrapping(ctx, cw, passphrase, k) // rotate.go
	a.sessions.Open(name, k)
	if err := a.store.Audit(ctx, "caseworker.login", "", fmt.Sprint(cw.ID)); err != nil {
		return err
	}
	if aead, err := a.sessions.AEAD(); err == nil {
		// The visit key is made with the first login: the town hall learns its recipient
		// at the next sync and seals packs to it from then on.
		if _, err := keys.EnsureVisitKey(a.opts.DataDir, aead); err != nil {
			a.log.Warn("visitKeyFailed", "err", err)
		}
		a.storePendingVisits(ctx, aead)
	}
	return nil
}

// Lock ends one caseworker's session (their lock or logout). The data key is forgotten when
// it was the last session; the others go on working.
func (a *Agent) Lock(name string) { a.sessions.Close(name) }

// Touch counts a caseworker's activity; false when their session has ended (locked, idle):
// they must log in again.
func (a *Agent) Touch(name string) bool { return a.sessions.Touch(name) }

// Logout ends every caseworker's session and forgets the data key (shutdown).
func (a *Agent) Logout() { a.sessions.CloseAll() }

// DataKey returns the AEAD of the data key while a caseworker is logged in (drafts and visit
// packs need it), store.ErrNoKey otherwise. It is no caseworker's activity (Touch is), so it
// never postpones an idle lock.
func (a *Agent) DataKey() (cipher.AEAD, error) {
	aead, err := a.sessions.AEAD()
	if errors.Is(err, keys.ErrNoSession) {
		return nil, store.ErrNoKey
	}
	return aead, err
}

// janitor purges delivered cases once KeepDelivered has passed (their packet and fingerprints
// went at delivery; this removes the rest) and visit packs whose day is over, at start and
// then every ten minutes.
func (a *Agent) janitor(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if n, err := a.PurgeDelivered(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("purgeFailed", "err", err)
		} else if n > 0 {
			a.log.Info("casesPurged", "count", n)
		}
		if n, err := a.PurgeVisits(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("visitPurgeFailed", "err", err)
		} else if n > 0 {
			a.log.Info("visitPacksPurged", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PurgeDelivered purges every case delivered more than KeepDelivered ago.
func (a *Agent) PurgeDelivered(ctx context.Context) (int, error) {
	ids, err := a.store.DeliveredBefore(ctx, a.now().Add(-a.opts.Config.KeepDelivered))
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := a.store.Purge(ctx, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}
