// Package creds wraps systemd-creds: a secret encrypted with the machine's credential key
// (the host key in /var/lib/systemd/credential.secret, bound to the TPM where systemd finds
// one), which a systemd unit hands the service decrypted with LoadCredentialEncrypted=.
package creds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// timeout bounds one systemd-creds run.
const timeout = 10 * time.Second

// Available reports whether systemd-creds is installed.
func Available() bool {
	_, err := exec.LookPath("systemd-creds")
	return err == nil
}

// Encrypt encrypts secret as the credential name.
func Encrypt(ctx context.Context, name string, secret []byte) ([]byte, error) {
	out, err := run(ctx, secret, "encrypt", "--name="+name, "-", "-")
	if err != nil {
		return nil, fmt.Errorf("systemd-creds encrypt: %w", err)
	}
	return out, nil
}

// Decrypt returns the credential name: from $CREDENTIALS_DIRECTORY when systemd already
// decrypted it for this service (LoadCredentialEncrypted=), else by decrypting cred.
func Decrypt(ctx context.Context, name string, cred []byte) ([]byte, error) {
	if d := os.Getenv("CREDENTIALS_DIRECTORY"); d != "" {
		if b, err := os.ReadFile(filepath.Join(d, name)); err == nil {
			return b, nil
		}
	}
	out, err := run(ctx, cred, "decrypt", "--name="+name, "-", "-")
	if err != nil {
		return nil, fmt.Errorf("systemd-creds decrypt: %w", err)
	}
	return out, nil
}

func run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemd-creds", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := bytes.TrimSpace(errb.Bytes())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, errors.Join(err, errors.New(string(msg)))
	}
	return out.Bytes(), nil
}
