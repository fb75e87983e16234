package keyfile_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keydesk/keydesk/internal/keyfile"
)

func TestCreatedOnceAndPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	calls := 0
	create := func() ([]byte, error) {
		calls++
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	}
	first, err := keyfile.LoadOrCreate(dir, "k", create)
	if err != nil {
		t.Fatal(err)
	}
	again, err := keyfile.LoadOrCreate(dir, "k", create)
	if err != nil || !bytes.Equal(first, again) || calls != 1 {
		t.Fatalf("second load: %v, same %v, create called %d times", err, bytes.Equal(first, again), calls)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "k"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, want %v", path, err, want)
		}
	}
}

// TestConcurrentFirstUsesAgree: two first starts racing keep one key.
func TestConcurrentFirstUsesAgree(t *testing.T) {
	dir := t.TempDir()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := keyfile.LoadOrCreate(dir, "k", func() ([]byte, error) { return []byte{byte(i + 1)}, nil })
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("caller %d got %v, caller 0 %v", i, keys[i], keys[0])
		}
	}
}
