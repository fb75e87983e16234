package models

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// A private key pasted where the public one belongs is named as such and
// never repeated back (SSHKeyArg echoed its first 80 characters in "is
// neither an SSH public key nor an existing file"); a cut or mangled public
// key says so, without x/crypto's "illegal base64 data at input byte 24".
func TestKeyTextMistakesSayWhatToPaste(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "me@laptop")
	if err != nil {
		t.Fatal(err)
	}
	privText := string(pem.EncodeToMemory(block))
	body := strings.Split(privText, "\n")[1]
	for _, files := range []bool{true, false} {
		_, err := SSHKeyArg(privText, files)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "that is a private key") || strings.Contains(err.Error(), body[:20]) {
			t.Errorf("SSHKeyArg(private key text, files=%v) = %v; want a private-key error that repeats none of it", files, err)
		}
	}
	if _, err := ParseSSHKey(privText); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "that is a private key") || strings.Contains(err.Error(), body[:20]) {
		t.Errorf("ParseSSHKey(private key text) = %v", err)
	}
	for text, want := range map[string]string{
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI": "the ssh-ed25519 key is cut short or mangled; paste the whole line of the .pub file",
		"ecdsa-sha2-nistp256 AAAA":              "the ecdsa-sha2-nistp256 key is cut short or mangled",
		"ssh-rsa AAAAbogus":                     "the ssh-rsa key is cut short or mangled",
		"hello world":                           "not an ssh public key; paste a line such as",
	} {
		_, err := ParseSSHKey(text)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "ssh:") || strings.Contains(err.Error(), "base64") {
			t.Errorf("ParseSSHKey(%q) = %v; want %q and no x/crypto text", text, err, want)
		}
	}
}
