package townhall

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tus/tusd/v2/pkg/filestore"
	tushandler "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
)

// dirPackets keeps packets as files in one directory, written durably.
type dirPackets struct{ dir string }

var _ Packets = dirPackets{}

func (d dirPackets) path(caseID string) string { return filepath.Join(d.dir, caseID+".pkt") }

func (d dirPackets) PutPacket(_ context.Context, caseID string, data []byte) error {
	if err := writeFileSync(d.path(caseID), data, 0o600); err != nil {
		return fmt.Errorf("store packet: %w", err)
	}
	return nil
}

func (d dirPackets) Packet(_ context.Context, caseID string) ([]byte, error) {
	b, err := os.ReadFile(d.path(caseID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("packet %s: %w", caseID, ErrNotFound)
	}
	return b, err
}

// redactedPath is the copy kept after a case's fingerprints were deleted.
func (d dirPackets) redactedPath(caseID string) string {
	return filepath.Join(d.dir, caseID+".redacted")
}

func (d dirPackets) DeletePacket(_ context.Context, caseID string) error {
	if err := os.Remove(d.path(caseID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete packet: %w", err)
	}
	if err := syncDir(d.dir); err != nil {
		return fmt.Errorf("delete packet: %w", err)
	}
	return nil
}

func (d dirPackets) PutRedacted(_ context.Context, caseID string, data []byte) error {
	if err := writeFileSync(d.redactedPath(caseID), data, 0o600); err != nil {
		return fmt.Errorf("store redacted packet: %w", err)
	}
	return nil
}

func (d dirPackets) Redacted(_ context.Context, caseID string) ([]byte, error) {
	b, err := os.ReadFile(d.redactedPath(caseID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("redacted packet %s: %w", caseID, ErrNotFound)
	}
	return b, err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// dirUploads is tusd's filestore in one directory, with an in-process locker (one replica)
// unless locker is set.
type dirUploads struct {
	dir    string
	locker Uploads
}

func (d dirUploads) UseIn(c *tushandler.StoreComposer) {
	filestore.New(d.dir).UseIn(c)
	if d.locker != nil {
		d.locker.UseIn(c)
		return
	}
	memorylocker.New().UseIn(c)
}
