package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// EventAttachmentRemoved: a draft attachment was replaced (a photo taken again).
const EventAttachmentRemoved = "case.attachment-removed"

// RemoveAttachment deletes one attachment of a draft (a photo taken again replaces the
// previous one) and its file when no other row names the same bytes; the removal is audited.
func (s *Store) RemoveAttachment(ctx context.Context, caseID string, id int64, actor string) error {
	var files []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := requireState(ctx, tx, caseID, StateDraft); err != nil {
			return err
		}
		var sum string
		err := tx.QueryRowContext(ctx, "DELETE FROM attachments WHERE case_id = ? AND id = ? RETURNING sha256", caseID, id).Scan(&sum)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		files = append(files, sum)
		return s.appendAudit(ctx, tx, EventAttachmentRemoved, caseID, actor)
	})
	if err != nil {
		return fmt.Errorf("remove attachment: %w", err)
	}
	return s.removeBlobs(ctx, files)
}
