package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/client"
	"github.com/tern-mq/tern/packet"
)

// tlsBroker runs a broker behind TLS with a certificate for 127.0.0.1
// signed by a fresh CA, whose PEM file it returns with the mqtts URL.
func tlsBroker(t *testing.T) (url, caFile string) {
	t.Helper()
	cert, caFile := testCert(t)
	s, err := broker.New(broker.Config{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(inner, &tls.Config{Certificates: []tls.Certificate{cert}})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return "mqtts://" + inner.Addr().String(), caFile
}

// testCert returns a certificate for 127.0.0.1 signed by a fresh CA, and
// the CA's PEM file.
func testCert(t *testing.T) (cert tls.Certificate, caFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"broker.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

func TestTLS(t *testing.T) {
	url, caFile := tlsBroker(t)
	ctx := testCtx(t)
	cfg, err := client.TLSFiles(caFile, "", "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	c := dialConn(t, url, client.Options{TLSConfig: cfg})
	in := newInbox()
	if _, err := c.Subscribe(ctx, client.Subscription{Filter: "tls", QoS: 2, Handler: in.handle}); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, client.Message{Topic: "tls", QoS: 2, Payload: []byte("secret")}); err != nil {
		t.Fatal(err)
	}
	if m := in.wait(t, 1)[0]; string(m.Payload) != "secret" {
		t.Fatalf("got %q", m.Payload)
	}
	// A server name the certificate does not hold is refused.
	bad, _ := client.TLSFiles(caFile, "", "", "other.test", false)
	if _, err := client.Dial(ctx, client.Options{Servers: []string{url}, TLSConfig: bad}); err == nil {
		t.Fatal("certificate for another name accepted")
	}
	// Without the CA the certificate is not trusted.
	_, err = client.Dial(ctx, client.Options{Servers: []string{url}})
	var ue x509.UnknownAuthorityError
	if !errors.As(err, &ue) {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if _, err := client.TLSFiles(filepath.Join(t.TempDir(), "missing.pem"), "", "", "", false); err == nil {
		t.Fatal("missing CA file accepted")
	}
	_ = packet.Success
}
