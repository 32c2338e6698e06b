package main

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
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tern-mq/tern/broker"
	"github.com/tern-mq/tern/internal/brokertest"
)

// tlsCLIBroker runs a broker behind TLS (certificate for 127.0.0.1 from a
// fresh CA) and returns its port and the CA file.
func tlsCLIBroker(t *testing.T) (port, caFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cli CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Serve(t, broker.Config{}, tls.NewListener(inner, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}))
	return strconv.Itoa(inner.Addr().(*net.TCPAddr).Port), caFile
}

func TestPubSubTLS(t *testing.T) {
	port, caFile := tlsCLIBroker(t)
	if out, err := runTern(t, "pub", "-h", "127.0.0.1", "-p", port, "--cafile", caFile, "-t", "tls/t", "-m", "over tls", "-r", "-q", "1"); err != nil {
		t.Fatalf("pub: %v\n%s", err, out)
	}
	out, err := runTern(t, "sub", "-h", "127.0.0.1", "-p", port, "--cafile", caFile, "-t", "tls/t", "-C", "1", "-W", "10")
	if err != nil || out != "over tls\n" {
		t.Fatalf("sub: %v %q", err, out)
	}
	// Without the CA the server is not trusted.
	if _, err := runTern(t, "pub", "-h", "127.0.0.1", "-p", port, "--tls", "-t", "tls/t", "-m", "x"); exitCode(err) != exitError {
		t.Fatalf("untrusted server: exit %d (%v)", exitCode(err), err)
	}
	// --insecure skips verification.
	if out, err := runTern(t, "pub", "-L", "mqtts://127.0.0.1:"+port, "--insecure", "-t", "tls/t", "-m", "x"); err != nil {
		t.Fatalf("pub --insecure: %v\n%s", err, out)
	}
}

func TestPubSubWebSocket(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Serve(t, broker.Config{}, broker.WebSocketListener(inner, nil, nil))
	url := "ws://" + inner.Addr().String() + "/mqtt"
	if out, err := runTern(t, "pub", "-L", url, "-t", "ws/t", "-m", "over ws", "-r", "-q", "1"); err != nil {
		t.Fatalf("pub: %v\n%s", err, out)
	}
	out, err := runTern(t, "sub", "-L", url, "-t", "ws/t", "-C", "1", "-W", "10")
	if err != nil || out != "over ws\n" {
		t.Fatalf("sub: %v %q", err, out)
	}
}
