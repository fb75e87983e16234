package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/keydesk/keydesk/store"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial number and returns its pool.
func writeCert(t *testing.T, dir string, serial int64) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "keydesk test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written to temporary names and renamed, as certbot does.
	for name, block := range map[string]*pem.Block{"cert.pem": {Type: "CERTIFICATE", Bytes: der}, "key.pem": {Type: "EC PRIVATE KEY", Bytes: kb}} {
		tmp := filepath.Join(dir, name+".new")
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool
}

type served struct {
	http, ssh net.Addr
	done      chan error
	cancel    context.CancelFunc
}

func serveIn(t *testing.T, cfg Config) *served {
	t.Helper()
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	_, pub := newKey(t)
	if err := EnsureOwner(s, env(map[string]string{EnvOwnerKey: pub})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sv := &served{done: make(chan error, 1), cancel: cancel}
	ready := make(chan struct{})
	cfg.SSHAddr = "127.0.0.1:0"
	cfg.Logger = log.NewWithOptions(io.Discard, log.Options{})
	cfg.Ready = func(ssh, http net.Addr) { sv.ssh, sv.http = ssh, http; close(ready) }
	go func() { sv.done <- Serve(ctx, s, cfg) }()
	select {
	case <-ready:
	case err := <-sv.done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve never became ready")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-sv.done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return sv
}

// TestPlainHTTPOnlyOnLoopback is issue 15 item 8: tokens never travel in
// clear text to other machines unless the operator says a proxy is in front.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		err := Serve(context.Background(), s, Config{SSHAddr: "127.0.0.1:0", HTTPAddr: addr, Logger: log.NewWithOptions(io.Discard, log.Options{})})
		if err == nil || !strings.Contains(err.Error(), "--tls-cert") || strings.Contains(err.Error(), "\n") {
			t.Errorf("plain HTTP on %s: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:1", "localhost:1", "[::1]:1"} {
		if !loopbackOnly(addr) {
			t.Errorf("%s is loopback", addr)
		}
	}
	if err := Serve(context.Background(), s, Config{SSHAddr: "127.0.0.1:0", HTTPAddr: ":0", TLSCert: "x"}); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("--tls-cert without --tls-key: %v", err)
	}
	// --insecure-http: the operator's choice, served.
	sv := serveIn(t, Config{HTTPAddr: ":0", InsecureHTTP: true})
	port := sv.http.(*net.TCPAddr).Port
	res, err := http.Get("http://127.0.0.1:" + itoa(port) + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("insecure-http healthz: %v %v", res, err)
	}
	res.Body.Close()
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestTLSServesHTTP2AndReloads: with --tls-cert/--tls-key the API is HTTPS
// with HTTP/2, plain HTTP to it is refused, and a new certificate written in
// place is served after a reload (SIGHUP) without a restart.
func TestTLSServesHTTP2AndReloads(t *testing.T) {
	dir := t.TempDir()
	pool1 := writeCert(t, dir, 1)
	reload := make(chan os.Signal, 1)
	sv := serveIn(t, Config{HTTPAddr: ":0", TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem"), Reload: reload})
	url := "https://127.0.0.1:" + itoa(sv.http.(*net.TCPAddr).Port) + "/healthz"
	get := func(pool *x509.CertPool) (*http.Response, error) {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
		res, err := c.Get(url)
		if err == nil {
			res.Body.Close()
		}
		return res, err
	}
	res, err := get(pool1)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("https healthz: %v %v", res, err)
	}
	if res.Proto != "HTTP/2.0" {
		t.Errorf("negotiated %s; want HTTP/2.0", res.Proto)
	}
	if res.TLS.PeerCertificates[0].SerialNumber.Int64() != 1 {
		t.Fatal("wrong certificate")
	}
	plain, err := http.Get(strings.Replace(url, "https", "http", 1))
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on the TLS port")
		}
	}

	pool2 := writeCert(t, dir, 2)
	reload <- os.Interrupt // any value: the daemon wires SIGHUP here
	if !eventually(5*time.Second, func() bool {
		res, err := get(pool2)
		return err == nil && res.TLS.PeerCertificates[0].SerialNumber.Int64() == 2
	}) {
		t.Fatal("the renewed certificate was never served")
	}
	// A broken file on reload keeps the certificate that works.
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- os.Interrupt
	if res, err := get(pool2); err != nil || res.StatusCode != 200 {
		t.Fatalf("after a failed reload: %v %v", res, err)
	}
}

// TestMetricsOnTheirOwnAddress: --metrics-addr moves /metrics off the API's
// address.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := ln.Addr().String()
	ln.Close()
	sv := serveIn(t, Config{HTTPAddr: "127.0.0.1:0", MetricsAddr: maddr})
	res, err := http.Get("http://" + sv.http.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the API address: %d; want 404", res.StatusCode)
	}
	if !eventually(5*time.Second, func() bool {
		res, err := http.Get("http://" + maddr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode == 200 && strings.Contains(string(b), "keydesk_token_exchanges_total")
	}) {
		t.Fatal("no metrics on --metrics-addr")
	}
}
