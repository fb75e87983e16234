package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/chacha20poly1305"
)

// secrets are the keys kept beside the database, never inside it: a stolen
// keydesk.db alone reveals neither token digests' preimages nor sealed secrets.
type secrets struct {
	dir    string
	pepper []byte // HMAC key for token digests
	seal   []byte // XChaCha20-Poly1305 key for assigned tokens awaiting reveal
}

func loadSecrets(dir string) (secrets, error) {
	s := secrets{dir: dir}
	var err error
	if s.pepper, err = LoadOrCreateSecret(dir, "pepper", randomKey); err != nil {
		return s, err
	}
	if s.seal, err = LoadOrCreateSecret(dir, "seal.key", randomKey); err != nil {
		return s, err
	}
	if len(s.pepper) != 32 || len(s.seal) != chacha20poly1305.KeySize {
		return s, fmt.Errorf("secrets in %s are damaged (wrong length); restore them from a backup", dir)
	}
	return s, nil
}

func randomKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return k, nil
}

// LoadOrCreateSecret returns the secret file name in dir, creating the directory
// (0700) and the file (0600) with create's bytes on first use. The file is written
// to a temporary name and renamed, so a crash never leaves a half-written key and
// a restart never makes a new one.
func LoadOrCreateSecret(dir, name string, create func() ([]byte, error)) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create secrets directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secure secrets directory: %w", err)
	}
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err == nil {
		return data, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	data, err = create()
	if err != nil {
		return nil, fmt.Errorf("create secret %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("write secret %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write secret %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write secret %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write secret %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write secret %s: %w", name, err)
	}
	// Link instead of rename: if another process created the file meanwhile, keep
	// theirs, so two first starts never disagree on a key.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, fmt.Errorf("write secret %s: %w", name, err)
	}
	return data, nil
}

// SecretsDir is where keys live; servers keep their own keys (JWT, SSH host) there.
func (s *Store) SecretsDir() string { return s.secrets.dir }

func (k secrets) digest(token string) []byte {
	m := hmac.New(sha256.New, k.pepper)
	m.Write([]byte(token))
	return m.Sum(nil)
}

func (k secrets) sealToken(tokenID, secret string) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(k.seal)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("read random nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, []byte(secret), []byte(tokenID)), nil
}

func (k secrets) openToken(tokenID string, sealed []byte) (string, error) {
	aead, err := chacha20poly1305.NewX(k.seal)
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
