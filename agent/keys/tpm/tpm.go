// Package tpm seals small secrets (the kit key) to this machine's TPM 2.0 with go-tpm: the
// secret becomes a sealed data object under the owner hierarchy's storage root key, and only
// its TPM-encrypted blobs are stored on disk. The storage root key is derived afresh from the
// TPM's seed on every use, so the blobs load on this TPM only.
//
// A TPM is reached through its kernel resource manager (/dev/tpmrm0) or, for tests against
// swtpm, over TCP ("tcp:HOST:PORT", raw TPM commands on swtpm's server socket).
package tpm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// DefaultDevice is the kernel's TPM resource manager.
const DefaultDevice = "/dev/tpmrm0"

// commandTimeout bounds one TPM command on a TCP connection (creating a primary key takes
// well under a second on a real chip).
const commandTimeout = 30 * time.Second

// maxResponse bounds a TPM response (TPM 2.0 responses are at most a few kilobytes).
const maxResponse = 64 << 10

// TPM is an open connection to a TPM.
type TPM struct {
	addr string
	t    transport.TPMCloser
}

// Available reports whether the kernel exposes a TPM resource manager here.
func Available() bool {
	_, err := os.Stat(DefaultDevice)
	return err == nil
}

// Open connects to the TPM at addr: a device path or "tcp:HOST:PORT".
func Open(addr string) (*TPM, error) {
	if hp, ok := strings.CutPrefix(addr, "tcp:"); ok {
		c, err := net.DialTimeout("tcp", hp, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("tpm %s: %w", addr, err)
		}
		return &TPM{addr: addr, t: &tcpTPM{c: c}}, nil
	}
	f, err := os.OpenFile(addr, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("tpm %s: %w", addr, err)
	}
	return &TPM{addr: addr, t: &deviceTPM{f: f, t: transport.FromReadWriteCloser(f)}}, nil
}

// deviceTPM is the kernel's TPM device, each command under a deadline where the device
// supports one (the resource manager is pollable).
type deviceTPM struct {
	f *os.File
	t transport.TPMCloser
}

func (d *deviceTPM) Send(cmd []byte) ([]byte, error) {
	if err := d.f.SetDeadline(time.Now().Add(commandTimeout)); err != nil && !errors.Is(err, os.ErrNoDeadline) {
		return nil, err
	}
	return d.t.Send(cmd)
}

func (d *deviceTPM) Close() error { return d.t.Close() }

// Addr is where the TPM was opened.
func (t *TPM) Addr() string { return t.addr }

// Close closes the connection.
func (t *TPM) Close() error { return t.t.Close() }

// blob is what Seal returns: the sealed object's public and TPM-encrypted private part.
type blob struct {
	Version int    `json:"v"`
	Public  []byte `json:"public"`
	Private []byte `json:"private"`
}

// srk creates the owner hierarchy's ECC P-256 storage root key (TCG template). The same seed
// and template give the same key, so nothing of it needs storing.
func (t *TPM) srk() (*tpm2.CreatePrimaryResponse, *tpm2.TPMTPublic, func(), error) {
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(t.t)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("tpm: storage root key: %w", err)
	}
	flush := func() { _, _ = tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}.Execute(t.t) }
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush()
		return nil, nil, nil, fmt.Errorf("tpm: storage root key: %w", err)
	}
	return rsp, pub, flush, nil
}

// Seal seals secret (at most 128 bytes) to this TPM and returns the blobs to store. The
// secret travels to the TPM encrypted by a session salted with the storage root key.
func (t *TPM) Seal(secret []byte) ([]byte, error) {
	srk, pub, flush, err := t.srk()
	if err != nil {
		return nil, err
	}
	defer flush()
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: secret}),
		}},
		InPublic: tpm2.New2B(tpm2.TPMTPublic{
			Type:    tpm2.TPMAlgKeyedHash,
			NameAlg: tpm2.TPMAlgSHA256,
			ObjectAttributes: tpm2.TPMAObject{
				FixedTPM: true, FixedParent: true, UserWithAuth: true, NoDA: true,
			},
		}),
	}.Execute(t.t, tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptIn), tpm2.Salted(srk.ObjectHandle, *pub)))
	if err != nil {
		return nil, fmt.Errorf("tpm: seal: %w", err)
	}
	return json.Marshal(blob{Version: 1, Public: tpm2.Marshal(rsp.OutPublic), Private: tpm2.Marshal(rsp.OutPrivate)})
}

// Unseal loads the blobs Seal returned and returns the secret. It fails on any other TPM.
func (t *TPM) Unseal(sealed []byte) ([]byte, error) {
	var b blob
	if err := json.Unmarshal(sealed, &b); err != nil || b.Version != 1 {
		return nil, errors.New("tpm: unseal: blob malformed")
	}
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](b.Public)
	if err != nil {
		return nil, fmt.Errorf("tpm: unseal: public: %w", err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](b.Private)
	if err != nil {
		return nil, fmt.Errorf("tpm: unseal: private: %w", err)
	}
	srk, srkPub, flush, err := t.srk()
	if err != nil {
		return nil, err
	}
	defer flush()
	obj, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)},
		InPublic:     *pub, InPrivate: *priv,
	}.Execute(t.t)
	if err != nil {
		return nil, fmt.Errorf("tpm: unseal: load (sealed on another TPM?): %w", err)
	}
	defer func() { _, _ = tpm2.FlushContext{FlushHandle: obj.ObjectHandle}.Execute(t.t) }()
	rsp, err := tpm2.Unseal{
		ItemHandle: tpm2.AuthHandle{Handle: obj.ObjectHandle, Name: obj.Name, Auth: tpm2.PasswordAuth(nil)},
	}.Execute(t.t, tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.AESEncryption(128, tpm2.EncryptOut), tpm2.Salted(srk.ObjectHandle, *srkPub)))
	if err != nil {
		return nil, fmt.Errorf("tpm: unseal: %w", err)
	}
	return rsp.OutData.Buffer, nil
}

// tcpTPM sends raw TPM commands over a stream and reads each response by its header's size,
// every exchange under a deadline.
type tcpTPM struct{ c net.Conn }

func (t *tcpTPM) Send(cmd []byte) ([]byte, error) {
	if err := t.c.SetDeadline(time.Now().Add(commandTimeout)); err != nil {
		return nil, err
	}
	if _, err := t.c.Write(cmd); err != nil {
		return nil, fmt.Errorf("tpm: send: %w", err)
	}
	hdr := make([]byte, 10) // tag (2), size (4), response code (4)
	if _, err := io.ReadFull(t.c, hdr); err != nil {
		return nil, fmt.Errorf("tpm: receive: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > maxResponse {
		return nil, fmt.Errorf("tpm: receive: response size %d", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(t.c, rsp[10:]); err != nil {
		return nil, fmt.Errorf("tpm: receive: %w", err)
	}
	return rsp, nil
}

func (t *tcpTPM) Close() error { return t.c.Close() }
