package models

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestEmailsAreASCII is issue 15 item 9: look-alike addresses are refused or
// made visibly different, never stored as they came.
func TestEmailsAreASCII(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Ada@Example.com", "ada@example.com"},
		{"olive@exаmple.com", "olive@xn--exmple-4nf.com"}, // Cyrillic а: punycode, visibly not example.com
		{"ana@bücher.example", "ana@xn--bcher-kva.example"},
	} {
		got, err := NormalizeEmail(c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{
		"ada\u200b@example.com", // zero-width space
		"ada@exa\u200bmple.com", // … in the domain (IDNA lookup would drop it silently)
		"ada\u2060@example.com", // word joiner
		"\ufeffada@example.com", // BOM
		"ad\u00ada@example.com", // soft hyphen
		"аda@example.com",       // Cyrillic а in the local part
		"ada@exa mple.com",      // space
		"ada@\u0080bad.example", // C1 control
		"ada@ex\u202eample.com", // bidi override
		"ada@" + strings.Repeat("é", 300) + ".com",
	} {
		if got, err := NormalizeEmail(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalid", in, got, err)
		} else if strings.ContainsAny(err.Error(), "\u200b\u2060\ufeff\u202e\u0080") {
			t.Errorf("error for %q echoes the raw character: %q", in, err)
		}
	}
}

func TestNamesWithInvisibleCharactersRefused(t *testing.T) {
	for _, in := range []string{"Ada\u200b Lovelace", "Ada\u2060", "A\u00adda", "Ada\U000e0041"} {
		if _, err := ValidateName("name", in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateName(%q): %v; want ErrInvalid", in, err)
		}
	}
	// Persian needs the zero-width non-joiner.
	if _, err := ValidateName("name", "مهر\u200cنوش"); err != nil {
		t.Errorf("ZWNJ name refused: %v", err)
	}
}

func TestNameSkeletonCatchesLookAlikes(t *testing.T) {
	base := NameSkeleton("Ada Lovelace")
	for _, in := range []string{"Аda Lovelace", "ada  lovelace", "Ａｄａ Lovelace", "Ada Lovеlace", "ΑDA LOVELACE", "Ada Love\u200dlace"} {
		if got := NameSkeleton(in); got != base {
			t.Errorf("NameSkeleton(%q) = %q; want %q", in, got, base)
		}
	}
	for _, in := range []string{"Ada Byron", "Adam Lovelace", "Ada Lovelace Jr"} {
		if NameSkeleton(in) == base {
			t.Errorf("NameSkeleton(%q) collides with Ada Lovelace", in)
		}
	}
}

// TestWeakAndCertificateKeysRefused is item 12's registration half.
func TestWeakAndCertificateKeysRefused(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakPub, _ := ssh.NewPublicKey(&weak.PublicKey)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edSigner, _ := ssh.NewSignerFromKey(edPriv)
	_, caPriv, _ := ed25519.GenerateKey(rand.Reader)
	ca, _ := ssh.NewSignerFromKey(caPriv)
	cert := &ssh.Certificate{Key: edSigner.PublicKey(), CertType: ssh.UserCert, KeyId: "x",
		ValidPrincipals: []string{"anyone"}, ValidAfter: uint64(time.Now().Add(-48 * time.Hour).Unix()),
		ValidBefore: uint64(time.Now().Add(-time.Hour).Unix())}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	for name, pk := range map[string]ssh.PublicKey{"RSA 1024": weakPub, "expired certificate": cert} {
		line := string(ssh.MarshalAuthorizedKey(pk))
		if _, err := ParseSSHKey(line); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s registered: %v", name, err)
		} else if strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%s: error is not one line: %q", name, err)
		}
	}
	strong, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	strongPub, _ := ssh.NewPublicKey(&strong.PublicKey)
	if _, err := ParseSSHKey(string(ssh.MarshalAuthorizedKey(strongPub))); err != nil {
		t.Errorf("RSA 2048 refused: %v", err)
	}
	if _, err := ParseSSHKey(string(ssh.MarshalAuthorizedKey(edSigner.PublicKey()))); err != nil {
		t.Errorf("ed25519 refused: %v", err)
	}
}
