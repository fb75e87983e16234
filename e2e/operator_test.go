package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keydesk/keydesk/internal/syncbuf"
)

// TestBinaryRefusesLostOrPlantedSecrets is issue 15 items 4 and 7 with the
// real binary on a real data directory: `keydesk check` and `keydesk serve`
// fail with one line that says what to do when secrets/ is missing, replaced
// or loosened, and create nothing.
func TestBinaryRefusesLostOrPlantedSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildKeydesk(t)
	for name, damage := range map[string]func(sec string) error{
		"secrets/ deleted": os.RemoveAll,
		"pepper deleted":   func(sec string) error { return os.Remove(filepath.Join(sec, "pepper")) },
		"seal.key replaced": func(sec string) error {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			return os.WriteFile(filepath.Join(sec, "seal.key"), b, 0o600)
		},
		"pepper mode 0666": func(sec string) error { return os.Chmod(filepath.Join(sec, "pepper"), 0o666) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			owner := newSigner(t)
			if _, errOut, code := runBin(t, bin, dir, "init", "--owner-name", "Olive Owner", "--owner-email", "olive@example.com", "--owner-key", authorizedKey(owner)); code != 0 {
				t.Fatalf("init: %s", errOut)
			}
			if _, errOut, code := runBin(t, bin, dir, "check"); code != 0 {
				t.Fatalf("check before: %s", errOut)
			}
			sec := filepath.Join(dir, "secrets")
			if err := damage(sec); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadDir(sec)
			for _, args := range [][]string{{"check"}, {"token", "list"}, {"serve", "--ssh-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}} {
				_, errOut, code := runBin(t, bin, dir, args...)
				if code == 0 {
					t.Fatalf("%v succeeded with damaged secrets", args)
				}
				line := strings.TrimSpace(errOut)
				if strings.Count(line, "\n") > 0 || !(strings.Contains(line, "restore") || strings.Contains(line, "put back") || strings.Contains(line, "chmod")) {
					t.Fatalf("%v: not one line saying what to do: %q", args, errOut)
				}
			}
			after, _ := os.ReadDir(sec)
			if len(after) != len(before) {
				t.Fatalf("a command created secret files: %d → %d", len(before), len(after))
			}
		})
	}
}

func writeTestCert(t *testing.T, dir string, serial int64) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "keydesk e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	for name, b := range map[string][]byte{
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name+".new"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, name+".new"), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool
}

// TestBinaryTLSReloadsOnSIGHUP is item 8 with the real binary: plain HTTP on
// a reachable address is refused; with --tls-cert/--tls-key it serves HTTPS
// with HTTP/2, and `kill -HUP` makes it serve a renewed certificate.
func TestBinaryTLSReloadsOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildKeydesk(t)
	dir := t.TempDir()
	owner := newSigner(t)
	if _, errOut, code := runBin(t, bin, dir, "init", "--owner-name", "Olive Owner", "--owner-email", "olive@example.com", "--owner-key", authorizedKey(owner)); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	if _, errOut, code := runBin(t, bin, dir, "serve", "--ssh-addr", "127.0.0.1:0", "--http-addr", ":0"); code == 0 || !strings.Contains(errOut, "--tls-cert") {
		t.Fatalf("plain HTTP on all interfaces: %d %q", code, errOut)
	}
	certs := t.TempDir()
	pool1 := writeTestCert(t, certs, 1)
	httpAddr := freePort(t)
	var logs syncbuf.Buffer // written by exec's copier while a failure reads it
	srv := exec.Command(bin, "--data", dir, "serve", "--ssh-addr", "127.0.0.1:0", "--http-addr", httpAddr,
		"--tls-cert", filepath.Join(certs, "cert.pem"), "--tls-key", filepath.Join(certs, "key.pem"))
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Signal(syscall.SIGTERM); _ = srv.Wait() }()
	get := func(pool *x509.CertPool) (*http.Response, error) {
		c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
		res, err := c.Get("https://" + httpAddr + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return res, err
	}
	var res *http.Response
	deadline := time.Now().Add(15 * time.Second)
	for {
		var err error
		if res, err = get(pool1); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTPS never answered: %v\n%s", err, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res.StatusCode != 200 || res.Proto != "HTTP/2.0" {
		t.Fatalf("healthz over TLS: %d %s", res.StatusCode, res.Proto)
	}
	// SIGHUP must reload, not stop: nothing restarts the server here, so
	// the renewed certificate being served shows both.
	pool2 := writeTestCert(t, certs, 2)
	if err := srv.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if res, err := get(pool2); err == nil && res.TLS.PeerCertificates[0].SerialNumber.Int64() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate was never served after SIGHUP\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
