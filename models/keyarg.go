package models

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// keyTypes are the key types an authorized_keys line may start with. A word
// from this list followed by more text is key text, never a file name; this is
// what makes a FIDO "sk-ssh-ed25519@openssh.com AAAA…" key work everywhere.
var keyTypes = map[string]bool{
	ssh.KeyAlgoED25519: true, ssh.KeyAlgoRSA: true, "ssh-dss": true, // DSA: recognized as key text, refused by ParseSSHKey
	ssh.KeyAlgoECDSA256: true, ssh.KeyAlgoECDSA384: true, ssh.KeyAlgoECDSA521: true,
	ssh.KeyAlgoSKED25519: true, ssh.KeyAlgoSKECDSA256: true,
	ssh.CertAlgoED25519v01: true, ssh.CertAlgoRSAv01: true, ssh.CertAlgoECDSA256v01: true,
	ssh.CertAlgoECDSA384v01: true, ssh.CertAlgoECDSA521v01: true,
	ssh.CertAlgoSKED25519v01: true, ssh.CertAlgoSKECDSA256v01: true,
}

// errPrivateKeyText answers a pasted private key without repeating any of it.
var errPrivateKeyText = fmt.Errorf("%w: that is a private key; give the public key (the line in the .pub file beside it) and keep the private one to yourself", ErrInvalid)

// isPrivateKeyText reports whether text is a PEM or OpenSSH private key.
func isPrivateKeyText(text string) bool {
	return strings.Contains(text, "-----BEGIN") && strings.Contains(text, "PRIVATE KEY")
}

// maxKeyFile bounds how much of a key file is read: a public key is one line.
const maxKeyFile = 16 * 1024

// IsSSHKeyText reports whether arg is the text of a public key (an
// authorized_keys line) rather than the path of a file holding one.
func IsSSHKeyText(arg string) bool {
	f := strings.Fields(arg)
	return len(f) >= 2 && keyTypes[f[0]]
}

// SSHKeyArg is the one rule, for every door (CLI flags and arguments, the
// first-run form, KEYDESK_INITIAL_OWNER_KEY), for "is this an SSH key or a
// file?": key text is returned as given; anything else is a path ("~/" is
// the home directory) whose contents are returned, when files is true. Over
// SSH files is false: the server never reads its own files for a client.
// The text is not validated here; ParseSSHKey does that where it is stored.
func SSHKeyArg(arg string, files bool) (string, error) {
	arg = strings.TrimSpace(arg)
	if IsSSHKeyText(arg) {
		return arg, nil
	}
	if isPrivateKeyText(arg) {
		return "", errPrivateKeyText // never echoed: it is a secret
	}
	if arg == "" {
		return "", fmt.Errorf("%w: ssh key is empty; give a line such as \"ssh-ed25519 AAAA… you@host\" or a .pub file", ErrInvalid)
	}
	if !files {
		return "", fmt.Errorf("%w: %q is not an SSH public key; give the key text, e.g. \"$(cat ~/.ssh/id_ed25519.pub)\"", ErrInvalid, Sanitize(truncate(arg, 80)))
	}
	path := arg
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, path[2:])
		}
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%w: %q is neither an SSH public key nor an existing file", ErrInvalid, Sanitize(truncate(arg, 80)))
		}
		return "", fmt.Errorf("%w: cannot read key file %q: %v", ErrInvalid, Sanitize(truncate(arg, 80)), errors.Unwrap(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return "", fmt.Errorf("%w: cannot read key file %q: %v", ErrInvalid, Sanitize(truncate(arg, 80)), errors.Unwrap(err))
	}
	if len(data) > maxKeyFile {
		return "", fmt.Errorf("%w: %q is too large for a public key file", ErrInvalid, Sanitize(truncate(arg, 80)))
	}
	if bytes.Contains(data, []byte("PRIVATE KEY")) {
		return "", fmt.Errorf("%w: %q is a private key; give the public one (%s.pub)", ErrInvalid, Sanitize(truncate(arg, 80)), Sanitize(truncate(arg, 80)))
	}
	return strings.TrimSpace(string(data)), nil
}
