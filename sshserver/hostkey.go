package sshserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"

	"github.com/keydesk/keydesk/internal/keyfile"
	gossh "golang.org/x/crypto/ssh"
)

// LoadOrCreateHostKey returns the server's ed25519 host key as an OpenSSH
// PEM block, creating secrets/ssh_host_ed25519 (0600) on first use. Going
// through keyfile.LoadOrCreate means the directory exists before the key
// is written and the write is atomic, so a restart never makes a new key and
// clients never see a "host key changed" warning.
func LoadOrCreateHostKey(secretsDir string) ([]byte, error) {
	return loadHostKey(func(name string, create func() ([]byte, error)) ([]byte, error) {
		return keyfile.LoadOrCreate(secretsDir, name, create)
	})
}

// loadHostKey is LoadOrCreateHostKey through load (the store's ServerKey, so
// servers sharing an etcd organization share one host key).
func loadHostKey(load func(name string, create func() ([]byte, error)) ([]byte, error)) ([]byte, error) {
	b, err := load(HostKeyName, func() ([]byte, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := gossh.MarshalPrivateKey(priv, "keydesk host key")
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(block), nil
	})
	if err != nil {
		return nil, fmt.Errorf("sshserver: host key: %w", err)
	}
	return b, nil
}
