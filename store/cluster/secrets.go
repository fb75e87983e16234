package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keydesk/keydesk/internal/keyfile"
	"github.com/keydesk/keydesk/models"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/crypto/chacha20poly1305"
)

// Vault keeps the secrets every server of one etcd organization must share
// (the pepper, the seal key, the JWT signing key, the SSH host key) in etcd,
// each sealed with XChaCha20-Poly1305 under the key-encryption key (KEK) that
// each server reads from its own file; the KEK never enters etcd. A secret is
// created with a create-if-absent transaction, so two first starts cannot
// diverge: the loser reads the winner's.
type Vault struct {
	cli    *clientv3.Client
	prefix string
	kek    []byte
	path   string // the KEK file, for messages
}

// ErrWrongKEK means the KEK does not open the organization's secrets.
var ErrWrongKEK = errors.New("wrong key-encryption key")

// LoadKEK reads the KEK file (32 bytes, raw or as 64 hex digits). With
// create, a missing file is made (0600, in a 0700 directory) with a new key.
func LoadKEK(path string, create bool) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: an etcd store needs --kek-file (env KEYDESK_KEK_FILE): the key that seals the organization's shared secrets", models.ErrInvalid)
	}
	dir, name := filepath.Split(path)
	var b []byte
	var err error
	if create {
		b, err = keyfile.LoadOrCreate(filepath.Clean(dir), name, func() ([]byte, error) {
			k := make([]byte, 32)
			_, err := rand.Read(k)
			return k, err
		})
	} else {
		if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: no key-encryption key at %s; copy the KEK file of the server that ran init there (it never leaves your servers)", models.ErrInvalid, path)
		}
		b, err = keyfile.Load(filepath.Clean(dir), name)
	}
	if err != nil {
		return nil, fmt.Errorf("key-encryption key %s: %w", path, err)
	}
	if t := bytes.TrimSpace(b); len(t) == 64 {
		if k, err := hex.DecodeString(string(t)); err == nil {
			return k, nil
		}
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("%w: the key-encryption key %s has %d bytes; want 32 (or 64 hex digits)", models.ErrInvalid, path, len(b))
	}
	return b, nil
}

// NewVault keeps secrets under prefix ("…/k/<name>") sealed with kek.
func NewVault(cli *clientv3.Client, prefix string, kek []byte, kekPath string) *Vault {
	return &Vault{cli: cli, prefix: prefix, kek: kek, path: kekPath}
}

func (v *Vault) key(name string) string { return v.prefix + "k/" + name }

// Load returns the named secret, or nil and no error when it does not exist.
func (v *Vault) Load(ctx context.Context, name string) ([]byte, error) {
	r, err := v.cli.Get(ctx, v.key(name))
	if err != nil {
		return nil, fmt.Errorf("read shared secret %s from etcd: %w", name, err)
	}
	if len(r.Kvs) == 0 {
		return nil, nil
	}
	return v.open(name, r.Kvs[0].Value)
}

// LoadOrCreate returns the named secret, creating it with create if no server
// has yet; if another server created it meanwhile, its value wins.
func (v *Vault) LoadOrCreate(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	if b, err := v.Load(ctx, name); err != nil || b != nil {
		return b, err
	}
	plain, err := create()
	if err != nil {
		return nil, fmt.Errorf("create shared secret %s: %w", name, err)
	}
	sealed, err := v.seal(name, plain)
	if err != nil {
		return nil, err
	}
	k := v.key(name)
	r, err := v.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(sealed))).Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return nil, fmt.Errorf("store shared secret %s in etcd: %w", name, err)
	}
	if r.Succeeded {
		return plain, nil
	}
	kvs := r.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return nil, fmt.Errorf("shared secret %s vanished while being created; try again", name)
	}
	return v.open(name, kvs[0].Value)
}

func (v *Vault) aad(name string) []byte {
	return []byte("keydesk shared secret\x00" + v.prefix + "\x00" + name)
}

func (v *Vault) seal(name string, plain []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(v.kek)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, v.aad(name)), nil
}

func (v *Vault) open(name string, sealed []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(v.kek)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("shared secret %s in etcd is damaged; restore it from a backup of etcd", name)
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], v.aad(name))
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not open this organization's secrets in etcd (they were sealed under another key); use the KEK file of the server that ran init", ErrWrongKEK, v.path)
	}
	return plain, nil
}
