package models

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A FIDO key, as `ssh-keygen -t ed25519-sk` writes it.
const fidoKey = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIBLf6f4hU5D3Yuo1WnKkxFZ/Eoa5q2s7OGrI0pGIh4YfAAAABHNzaDo= maya@yubikey"

func TestSSHKeyArgDecidesTextOrFile(t *testing.T) {
	if _, err := ParseSSHKey(fidoKey); err != nil {
		t.Fatalf("the fixture is not a key models accepts: %v", err)
	}
	ed := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl you@host"
	for _, k := range []string{fidoKey, ed, "  " + ed + "\n", "ecdsa-sha2-nistp256 AAAA x"} {
		got, err := SSHKeyArg(k, false)
		if err != nil || got != strings.TrimSpace(k) {
			t.Errorf("SSHKeyArg(%q, false) = %q, %v; want the text", k, got, err)
		}
	}
	dir := t.TempDir()
	pub := filepath.Join(dir, "ssh-ed25519") // a file named like a key type is still a file
	if err := os.WriteFile(pub, []byte(fidoKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := SSHKeyArg(pub, true); err != nil || got != fidoKey {
		t.Fatalf("file: %q, %v", got, err)
	}
	if _, err := SSHKeyArg(pub, false); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "give the key text") {
		t.Fatalf("a path with files off: %v", err)
	}
	priv := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(priv, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := SSHKeyArg(priv, true); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("a private key file: %v", err)
	}
	if _, err := SSHKeyArg(filepath.Join(dir, "nope.pub"), true); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "neither an SSH public key nor an existing file") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := SSHKeyArg("", true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty: %v", err)
	}
}
