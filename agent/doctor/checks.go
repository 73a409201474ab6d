package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"koffer/agent/keys"
	"koffer/devices/fingerprint/usbreader"
	"koffer/store"
)

// Disk checks the free space of the file system holding dir.
type Disk struct {
	Dir string
	// WarnBelow and FailBelow are free-byte thresholds (defaults 2 GiB and 200 MiB).
	WarnBelow, FailBelow uint64
}

var _ Check = (*Disk)(nil)

func (d *Disk) Name() string { return "disk" }

func (d *Disk) Run(context.Context) Result {
	warnBelow, failBelow := d.WarnBelow, d.FailBelow
	if warnBelow == 0 {
		warnBelow = 2 << 30
	}
	if failBelow == 0 {
		failBelow = 200 << 20
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.Dir, &st); err != nil {
		return fail(err.Error(), "disk.unreadable",
			"Das Datenverzeichnis ist nicht lesbar. Bitte Pfad (--data) und Rechte prüfen.",
			"The data directory cannot be read; check the path (--data) and permissions.")
	}
	free := st.Bavail * uint64(st.Bsize)
	v := humanBytes(free) + " free"
	switch {
	case free < failBelow:
		return fail(v, "disk.full", "Der Speicher ist fast voll. Bitte zugestellte Fälle abwarten und die Technik informieren.",
			"The disk is nearly full; free space (the queue cannot grow) and inform the operators.")
	case free < warnBelow:
		return warn(v, "disk.low", "Der Speicher wird knapp. Bitte bald mit dem Rathaus synchronisieren.",
			"Free space is low; sync with the town hall soon.")
	}
	return ok(v)
}

// humanBytes prints n in the largest binary unit that keeps it at least 1 ("4.0 KiB", not
// "0.0 GiB").
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n)/unit, 0
	for v >= unit && exp < 4 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[exp])
}

// Store is what the database checks read (a *store.Store).
type Store interface {
	IntegrityCheck(ctx context.Context) error
	QueueStats(ctx context.Context) (store.QueueStats, error)
	VerifyAudit(ctx context.Context) error
}

var _ Store = (*store.Store)(nil)

const (
	dbHintDE = "Die Datenbank ist beschädigt oder nicht lesbar. Gerät nicht weiter benutzen und die Technik rufen (Support-Paket mit koffer doctor --bundle erstellen)."
	dbHintEN = "The database is damaged or unreadable; stop using the kit, make a support bundle and restore from the town hall's records."
)

// Database runs PRAGMA integrity_check. OpenErr is the error opening the store gave, if any:
// the check then fails with it instead of touching St, naming what is really wrong: no kit in
// that directory, no permission, or a damaged database.
type Database struct {
	St      Store
	OpenErr error
}

var _ Check = (*Database)(nil)

func (d *Database) Name() string { return "database" }

func (d *Database) Run(ctx context.Context) Result {
	if d.OpenErr != nil {
		return openFailure("database", d.OpenErr)
	}
	if err := d.St.IntegrityCheck(ctx); err != nil {
		return fail(err.Error(), "database.corrupt", dbHintDE, dbHintEN)
	}
	return ok("integrity_check ok")
}

// openFailure says why the database could not be opened, for the check named prefix: no kit
// in the directory (wrong --data), no permission (doctor run as another user than the agent),
// or a damaged database.
func openFailure(prefix string, err error) Result {
	var ne *NoKitError
	switch {
	case errors.As(err, &ne):
		return fail(err.Error(), prefix+".no-kit", "In diesem Verzeichnis ist kein Koffer eingerichtet. Bitte das Datenverzeichnis (--data) prüfen oder den Koffer einrichten (koffer init).",
			"No kit in this data directory: wrong --data, or the kit was never initialised (koffer init).")
	case errors.Is(err, fs.ErrPermission):
		return fail(err.Error(), prefix+".permission", "Keine Berechtigung für das Datenverzeichnis. Bitte koffer doctor als Benutzer des Dienstes (oder mit sudo) ausführen.",
			"No permission to read the data directory: run doctor as the agent's user (or with sudo). The database itself may be fine.")
	case errors.Is(err, fs.ErrNotExist):
		return fail(err.Error(), prefix+".missing", "Es gibt noch keine Datenbank. Bitte den Koffer einrichten (koffer init) und den Dienst starten.",
			"No database in the data directory: wrong --data, or the kit was never initialised.")
	}
	if prefix != "database" {
		return fail("database not readable (see database)", prefix+".unreadable", dbHintDE, dbHintEN)
	}
	return fail(err.Error(), "database.open", dbHintDE, dbHintEN)
}

// NoKitError says a data directory holds no kit at all (it does not exist, or has neither a
// database nor a kit identity).
type NoKitError struct{ Dir string }

func (e *NoKitError) Error() string { return "no kit in " + e.Dir }

// dataDirProblem finds what makes dir unusable before the store is opened: it does not exist
// or holds no kit (*NoKitError), or this user may not read it (fs.ErrPermission).
func dataDirProblem(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &NoKitError{Dir: dir}
	case err != nil:
		return fmt.Errorf("data directory %s: %w", dir, err)
	case !st.IsDir():
		return &NoKitError{Dir: dir}
	}
	f, err := os.Open(filepath.Join(dir, store.DBName))
	if err == nil {
		f.Close()
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, kerr := os.Stat(filepath.Join(dir, keys.BundleFile)); errors.Is(kerr, fs.ErrNotExist) {
			return &NoKitError{Dir: dir}
		}
		return fmt.Errorf("no database in %s: %w", dir, err)
	}
	return fmt.Errorf("database in %s: %w", dir, err)
}

// Queue reports the outbox depth and warns when the oldest undelivered packet is older than
// WarnAge (default 7 days).
type Queue struct {
	St      Store
	OpenErr error
	WarnAge time.Duration
}

var _ Check = (*Queue)(nil)

func (q *Queue) Name() string { return "queue" }

func (q *Queue) Run(ctx context.Context) Result {
	if q.OpenErr != nil {
		return openFailure("queue", q.OpenErr)
	}
	warnAge := q.WarnAge
	if warnAge <= 0 {
		warnAge = 7 * 24 * time.Hour
	}
	st, err := q.St.QueueStats(ctx)
	if err != nil {
		return fail(err.Error(), "queue.unreadable", dbHintDE, dbHintEN)
	}
	v := fmt.Sprintf("%d waiting (%d parked), oldest %s", st.Depth, st.Parked, st.OldestAge.Round(time.Minute))
	switch {
	case st.OldestAge > warnAge:
		return warn(v, "queue.old", "Fälle warten seit über einer Woche auf die Übertragung. Bitte Verbindung zum Rathaus herstellen.",
			"Cases have waited more than a week for delivery; connect the kit to the town hall (see uplink).")
	case st.Parked > 0:
		return warn(v, "queue.parked", "Einige Fälle wurden vom Rathaus nicht angenommen. Bitte die Technik informieren.",
			"Some packets are parked; inspect them with koffer queue and unpark after fixing the cause.")
	}
	return ok(v)
}

// Audit walks the audit hash chain.
type Audit struct {
	St      Store
	OpenErr error
}

var _ Check = (*Audit)(nil)

func (a *Audit) Name() string { return "audit" }

func (a *Audit) Run(ctx context.Context) Result {
	if a.OpenErr != nil {
		return openFailure("audit", a.OpenErr)
	}
	if err := a.St.VerifyAudit(ctx); err != nil {
		return fail(err.Error(), "audit.broken", "Das Protokoll wurde verändert. Gerät nicht weiter benutzen und die Technik rufen.",
			"The audit chain is broken (edited or truncated); stop using the kit and escalate to security.")
	}
	return ok("chain intact")
}

// Keys checks that the kit identity (enrollment bundle) is present, readable and valid.
type Keys struct{ Dir string }

var _ Check = (*Keys)(nil)

func (k *Keys) Name() string { return "keys" }

func (k *Keys) Run(context.Context) Result {
	kit, err := keys.LoadKit(k.Dir)
	switch {
	case errors.Is(err, keys.ErrNotInitialised):
		return fail("no "+keys.BundleFile, "keys.missing", "Der Koffer ist nicht eingerichtet. Bitte die Technik rufen (koffer init).",
			"No kit identity in the data directory; enroll the kit (koffer init).")
	case errors.Is(err, os.ErrPermission):
		return fail(err.Error(), "keys.unreadable", "Die Schlüssel sind nicht lesbar. Bitte die Technik rufen.",
			"The kit identity is not readable by this user; run doctor as the agent's user.")
	case err != nil:
		return fail(err.Error(), "keys.invalid", "Die Schlüssel des Koffers sind beschädigt. Bitte die Technik rufen (neu einrichten).",
			"The enrollment bundle is damaged; re-enroll the kit.")
	}
	mode := "enrolled"
	if kit.Training {
		mode = "training"
	}
	if !kit.Training && kit.Protection == keys.ProtectNone {
		return warn(fmt.Sprintf("kit %s (%s, key in %s)", kit.Bundle.KitID, mode, keys.BundleFile), "keys.unprotected",
			"Der Schlüssel des Koffers ist nur durch die Festplattenverschlüsselung geschützt. Bitte die Technik rufen.",
			"The kit key lies in kit.json, protected by disk encryption only: re-enrol on a machine with a TPM 2.0 or systemd-creds (docs/security.md).")
	}
	if kit.Protection != keys.ProtectNone {
		mode += ", key: " + kit.Protection
	}
	return ok(fmt.Sprintf("kit %s (%s)", kit.Bundle.KitID, mode))
}

// Cert checks the expiry of the kit's TLS client certificate: warn within WarnWithin (default
// 30 days), fail once expired.
type Cert struct {
	Dir        string
	Now        func() time.Time
	WarnWithin time.Duration
}

var _ Check = (*Cert)(nil)

func (c *Cert) Name() string { return "certificate" }

func (c *Cert) Run(context.Context) Result {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	within := c.WarnWithin
	if within <= 0 {
		within = 30 * 24 * time.Hour
	}
	kit, err := keys.LoadKit(c.Dir)
	if err != nil {
		return fail(err.Error(), "certificate.missing", "Kein Zertifikat vorhanden. Bitte die Technik rufen.",
			"No kit certificate (see keys).")
	}
	na, err := kit.Bundle.CertNotAfter()
	if err != nil {
		return fail(err.Error(), "certificate.invalid", "Das Zertifikat ist beschädigt. Bitte die Technik rufen.", "The kit certificate does not parse; re-enroll.")
	}
	left := na.Sub(now())
	v := fmt.Sprintf("expires %s (%d days)", na.UTC().Format(time.DateOnly), int(left.Hours()/24))
	switch {
	case left <= 0:
		return fail(v, "certificate.expired", "Das Zertifikat ist abgelaufen: keine Übertragung möglich. Bitte die Technik rufen.",
			"The client certificate has expired; the town hall will refuse the kit. Re-enroll.")
	case left < within:
		return warn(v, "certificate.expiring", "Das Zertifikat läuft bald ab. Bitte die Technik um Erneuerung bitten.",
			"The client certificate expires within 30 days; renew the enrollment.")
	}
	return ok(v)
}

// Readers lists attached fingerprint readers (usbreader.Discover).
type Readers func(ctx context.Context) ([]usbreader.Found, error)

// ReaderOpener opens the first reader and closes it again (usbreader.Open, then Close).
type ReaderOpener func(ctx context.Context) error

// OpenUSBReader is the ReaderOpener of the real hardware.
func OpenUSBReader(ctx context.Context) error {
	r, err := usbreader.Open(ctx, usbreader.Options{})
	if err != nil {
		return err
	}
	return r.Close()
}

// Fingerprint checks that a supported reader is attached and opens.
type Fingerprint struct {
	Discover Readers      // default usbreader.Discover
	Open     ReaderOpener // nil: do not open (discovery only)
}

var _ Check = (*Fingerprint)(nil)

func (f *Fingerprint) Name() string { return "fingerprint" }

func (f *Fingerprint) Run(ctx context.Context) Result {
	discover := f.Discover
	if discover == nil {
		discover = usbreader.Discover
	}
	found, err := discover(ctx)
	if err != nil {
		return deviceFail(err, "fingerprint.enumerate", "Die USB-Geräte können nicht gelesen werden. Bitte die Technik rufen.",
			"USB enumeration failed; check libusb and permissions.")
	}
	if len(found) == 0 {
		return fail("no supported reader", "fingerprint.not-found", "Kein Fingerabdruckleser gefunden. Bitte den Leser anschließen.",
			"No supported fingerprint reader attached; plug it in (koffer devices lists what is attached).")
	}
	v := fmt.Sprintf("%s %s (%s)", found[0].Model.Name, found[0].Model.ID, found[0].Model.Family)
	if f.Open != nil {
		if err := f.Open(ctx); err != nil {
			r := deviceFail(err, "fingerprint.open", "Der Fingerabdruckleser lässt sich nicht öffnen. Bitte neu anschließen.",
				"The reader is attached but does not open; check udev rules and replug it.")
			r.Value = v + ": " + err.Error()
			return r
		}
		v += ", opens"
	}
	return ok(v)
}
