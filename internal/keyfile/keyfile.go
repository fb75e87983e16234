// Package keyfile keeps secret keys in files: created once, atomically, with
// owner-only permissions, and never replaced. The store's pepper and seal key,
// the JWT signing key and the SSH host key all live this way.
package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreate returns the secret file name in dir, creating the directory
// (0700) and the file (0600) with create's bytes on first use. The file is written
// to a temporary name and renamed, so a crash never leaves a half-written key and
// a restart never makes a new one.
func LoadOrCreate(dir, name string, create func() ([]byte, error)) ([]byte, error) {
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
