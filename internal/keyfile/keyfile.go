// Package keyfile keeps secret keys in files: created once, atomically, with
// owner-only permissions, and never replaced. The store's pepper and seal key,
// the JWT signing key and the SSH host key all live this way. An existing key
// is trusted only if nobody but this process's user could have written it:
// directories and files owned by someone else, writable by group or others,
// symbolic links, non-regular files and keys of one repeated byte are
// refused, each with the command that fixes it.
package keyfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/keydesk/keydesk/models"
)

// ErrUnsafe marks a key (or its directory) that is refused, or missing where
// it must exist. It is models.ErrInvalid, so every door reports it as bad
// input with what to do.
var ErrUnsafe = models.ErrInvalid

// LoadOrCreate returns the secret file name in dir, creating the directory
// (0700) and the file (0600) with create's bytes on first use. The file is written
// to a temporary name and linked into place, and the directory is fsynced, so a
// crash never leaves a half-written key and a restart never makes a new one.
// An existing directory or file must be safe (secureDir, readSecret).
func LoadOrCreate(dir, name string, create func() ([]byte, error)) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create secrets directory: %w", err)
	}
	if err := secureDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	data, err := readSecret(path)
	if err == nil {
		return data, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
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
			return readSecret(path)
		}
		return nil, fmt.Errorf("write secret %s: %w", name, err)
	}
	// The new name is durable only once the directory is.
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("write secret %s: %w", name, err)
	}
	return data, nil
}

// Load reads an existing secret file; a missing one is an error that
// says what to restore.
func Load(dir, name string) ([]byte, error) {
	if err := secureDir(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: the secrets directory %s is missing; restore it from the backup of this data (without it no token verifies)", ErrUnsafe, dir)
		}
		return nil, err
	}
	b, err := readSecret(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: secret %s is missing; restore %s from the backup of this data (a new key would make every token stop working)", ErrUnsafe, filepath.Join(dir, name), dir)
	}
	return b, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// secureDir refuses a secrets directory anyone but this process's user could
// change: owned by someone else, or writable by group or others (a planted
// key would be served). A directory that is merely readable by others is
// tightened to 0700.
func secureDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory (a symbolic link or file there is refused); move it away", ErrUnsafe, dir)
	}
	if err := ownedByUs(dir, st); err != nil {
		return err
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s is writable by other users (mode %04o), so its keys cannot be trusted; check them, then run: chmod 700 %s", ErrUnsafe, dir, st.Mode().Perm(), dir)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("secure secrets directory: %w", err)
		}
	}
	return nil
}

// readSecret opens a secret without following a symbolic link and accepts
// only a regular file of this process's user that nobody else may read or
// write (0600 or stricter).
func readSecret(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%w: secret %s is a symbolic link; keydesk reads only regular files there", ErrUnsafe, path)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("read secret %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: secret %s is not a regular file", ErrUnsafe, path)
	}
	if err := ownedByUs(path, st); err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: secret %s may be read or changed by other users (mode %04o); check it, then run: chmod 600 %s", ErrUnsafe, path, st.Mode().Perm(), path)
	}
	if st.Size() > 1<<20 {
		return nil, fmt.Errorf("%w: secret %s is too large to be a key", ErrUnsafe, path)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", path, err)
	}
	if len(b) >= 16 && bytes.Count(b, b[:1]) == len(b) {
		return nil, fmt.Errorf("%w: secret %s holds one byte repeated, not a key; restore it from a backup", ErrUnsafe, path)
	}
	return b, nil
}

// ownedByUs refuses a path owned by another user.
func ownedByUs(path string, st fs.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil // not a Unix file system: ownership is not ours to check
	}
	if uid := os.Geteuid(); int(sys.Uid) != uid {
		return fmt.Errorf("%w: %s is owned by uid %d, not by keydesk's user (uid %d); run: chown %d %s", ErrUnsafe, path, sys.Uid, uid, uid, path)
	}
	return nil
}

// CheckOwnDir refuses a directory (a data directory) that another user owns
// or that group or others may write to: they could replace what is in it.
func CheckOwnDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := ownedByUs(dir, st); err != nil {
		return err
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: the data directory %s is writable by other users (mode %04o); run: chmod 700 %s", ErrUnsafe, dir, st.Mode().Perm(), dir)
	}
	return nil
}
