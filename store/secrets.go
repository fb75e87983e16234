package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	"github.com/keydesk/keydesk/internal/keyfile"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
	"golang.org/x/crypto/chacha20poly1305"
)

// Secrets are the keys an organization's data is sealed and digested with.
// They are kept apart from the data, never inside it: a stolen copy of the data
// alone reveals neither token digests' preimages nor sealed secrets. Loading
// them is separate from opening an engine, so they can come from files (Open:
// the data directory's secrets/) or, for several servers, from a shared store.
type Secrets struct {
	// Dir is where servers keep their own keys (JWT signing key, SSH host key).
	Dir string
	// Pepper is the HMAC-SHA256 key for token digests (32 bytes).
	Pepper []byte
	// Seal is the XChaCha20-Poly1305 key for assigned tokens awaiting reveal.
	Seal []byte
	// Shared, when set, keeps the keys every server must have in common (JWT
	// signing key, SSH host key) instead of files in Dir: several servers on
	// one etcd organization (store/cluster) load them sealed from etcd,
	// created once, so every server signs and greets with the same key.
	Shared func(name string, create func() ([]byte, error)) ([]byte, error)
}

// LoadSecrets reads the keys in dir, creating any that are missing. Use it
// only for a new organization: for existing data a missing key is an error
// (openSecrets with create false), never a silently new key that makes every
// token stop working.
func LoadSecrets(dir string) (Secrets, error) { return openSecrets(dir, true) }

func openSecrets(dir string, create bool) (Secrets, error) {
	s := Secrets{Dir: dir}
	load := keyfile.LoadOrCreate
	if !create {
		load = func(dir, name string, _ func() ([]byte, error)) ([]byte, error) { return keyfile.Load(dir, name) }
	}
	var err error
	if s.Pepper, err = load(dir, "pepper", randomKey); err != nil {
		return s, err
	}
	if s.Seal, err = load(dir, "seal.key", randomKey); err != nil {
		return s, err
	}
	if err := s.valid(); err != nil {
		return s, fmt.Errorf("%w; restore them from a backup", err)
	}
	return s, nil
}

// checkValue is recorded in the database the first time it is opened with
// these secrets, and compared on every open: HMAC-SHA256 under the pepper of
// the seal key, so it changes if either key is replaced, and reveals
// neither.
func (k Secrets) checkValue() []byte {
	m := hmac.New(sha256.New, k.Pepper)
	m.Write([]byte("keydesk secrets check v1\x00"))
	m.Write(k.Seal)
	return m.Sum(nil)
}

// keySecretsCheck is checkValue's key in the meta bucket.
var keySecretsCheck = []byte("secrets_check")

// errSecretsMismatch is what Open and Check say when the secrets are not the
// ones the data was written with.
func errSecretsMismatch(where string) error {
	return fmt.Errorf("%w: the secrets in %s are not the ones this database was written with (replaced or re-created?): no token would verify and no assigned token could be revealed; put back the secrets/ directory from the backup of this data and start again", models.ErrInvalid, where)
}

// checkSecrets compares the secrets with the check value recorded in the
// data, recording it on the first open (a new organization, or data written
// before keydesk recorded one).
func (s *Store) checkSecrets(tx kv.Tx) error {
	want := s.secrets.checkValue()
	got, err := tx.Get(bucketMeta, keySecretsCheck)
	if err != nil {
		return err
	}
	if got == nil {
		return tx.Put(bucketMeta, keySecretsCheck, want)
	}
	if !hmac.Equal(got, want) {
		where := s.secrets.Dir
		if where == "" {
			where = "the shared secrets"
		}
		return errSecretsMismatch(where)
	}
	return nil
}

func (k Secrets) valid() error {
	if len(k.Pepper) != 32 || len(k.Seal) != chacha20poly1305.KeySize {
		where := "the store's secrets"
		if k.Dir != "" {
			where = "secrets in " + k.Dir
		}
		return fmt.Errorf("%s are damaged (wrong length)", where)
	}
	return nil
}

func randomKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return k, nil
}

// SecretsDir is where keys live; servers keep their own keys (JWT, SSH host) there.
func (s *Store) SecretsDir() string { return s.secrets.Dir }

// ServerKey returns the server key name (JWT signing key, SSH host key),
// creating it with create on first use: shared through the store for several
// servers (Secrets.Shared), else a file in the secrets directory.
func (s *Store) ServerKey(name string, create func() ([]byte, error)) ([]byte, error) {
	if s.secrets.Shared != nil {
		return s.secrets.Shared(name, create)
	}
	return keyfile.LoadOrCreate(s.secrets.Dir, name, create)
}

// newMAC is a fresh HMAC state keyed with the pepper, for the pool.
func (s *Store) newMAC() any { return hmac.New(sha256.New, s.secrets.Pepper) }

// digest is a token's HMAC-SHA256 under the pepper: the key it is found by.
// The HMAC state comes from a pool: keying a new one (hmac.New) costs two
// SHA-256 blocks and ~0.5 KB on every exchange, Reset restores a keyed one.
func (s *Store) digest(token string) []byte {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(token))
	d := m.Sum(nil)
	s.macs.Put(m)
	return d
}

func (k Secrets) sealToken(tokenID, secret string) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(k.Seal)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("read random nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, []byte(secret), []byte(tokenID)), nil
}

func (k Secrets) openToken(tokenID string, sealed []byte) (string, error) {
	aead, err := chacha20poly1305.NewX(k.Seal)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed token is damaged")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(tokenID))
	if err != nil {
		return "", errors.New("sealed token cannot be opened (was secrets/seal.key replaced?)")
	}
	return string(plain), nil
}
