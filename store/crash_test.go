package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/chacha20poly1305"
)

// TestMain lets the test binary act as a capturing process (KOFFER_STORE_CAPTURE=DIR) for the
// crash test below.
func TestMain(m *testing.M) {
	if dir := os.Getenv("KOFFER_STORE_CAPTURE"); dir != "" {
		os.Exit(capture(dir))
	}
	os.Exit(m.Run())
}

func crashKey() []byte { k := sha256.Sum256([]byte("crash test key")); return k[:] }

// capture saves draft steps and attachments in a loop, printing "saved ID" after each write
// returns: what the UI would show as "gespeichert".
func capture(dir string) int {
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	aead, _ := chacha20poly1305.NewX(crashKey())
	for i := 0; ; i++ {
		id := fmt.Sprintf("%d-%d", os.Getpid(), i)
		if err := s.CreateDraft(ctx, NewCase{ID: id, Service: "wohnsitzanmeldung"}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := s.SaveStep(ctx, aead, id, "person", []byte("step of "+id)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := s.AddAttachment(ctx, aead, Attachment{CaseID: id, Kind: "scan"}, []byte("scan of "+id)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("saved %s\n", id)
	}
}

// TestCrashWhileCapturing kills a capturing process at random moments, 30 times: every step
// and attachment it reported as saved reads back intact, and integrity_check holds. (SIGKILL
// loses the process, not the page cache; power loss is covered by synchronous=FULL and the
// fsyncs, which this test cannot cut.)
func TestCrashWhileCapturing(t *testing.T) {
	dir := t.TempDir()
	var saved []string
	for range 30 {
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), "KOFFER_STORE_CAPTURE="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			_, _ = io.Copy(io.Discard, out)
		}()
		// Kill at a random moment after the process has started saving.
		first, ok := <-lines
		require.True(t, ok, "the capturing process saved nothing")
		saved = append(saved, strings.TrimPrefix(first, "saved "))
		deadline := time.After(time.Duration(rand.IntN(30_000)) * time.Microsecond)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				saved = append(saved, strings.TrimPrefix(l, "saved "))
			case <-deadline:
				break read
			}
		}
		_ = cmd.Process.Kill()
		for l := range lines { // what was printed before the kill was reported as saved
			saved = append(saved, strings.TrimPrefix(l, "saved "))
		}
		_ = cmd.Wait()
	}
	require.NotEmpty(t, saved)

	s, err := Open(t.Context(), dir, Options{})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.IntegrityCheck(t.Context()))
	require.NoError(t, s.VerifyAudit(t.Context()))
	_, err = s.RemoveOrphans(t.Context())
	require.NoError(t, err)
	aead, err := chacha20poly1305.NewX(crashKey())
	require.NoError(t, err)
	for _, id := range saved {
		steps, err := s.Steps(t.Context(), aead, id)
		require.NoError(t, err, id)
		assert.Equal(t, "step of "+id, string(steps["person"]))
		atts, err := s.Attachments(t.Context(), id)
		require.NoError(t, err)
		require.Len(t, atts, 1, id)
		data, err := s.AttachmentData(t.Context(), aead, atts[0])
		require.NoError(t, err, "the file of a saved attachment survives")
		assert.Equal(t, "scan of "+id, string(data))
	}
	t.Logf("%d captures reported saved across 30 kills", len(saved))
}
