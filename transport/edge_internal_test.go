package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRateByAddr(t *testing.T) {
	r := newRateByAddr(1, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	now := time.Unix(1000, 0)
	cases := []struct {
		addr string
		want bool
	}{
		{"192.0.2.1:1000", true},
		{"192.0.2.1:1001", false},          // same host, other port
		{"[::ffff:192.0.2.1]:1002", false}, // the same host as an IPv4-mapped address
		{"192.0.2.2:1000", true},
		{"[2001:db8:1:2::1]:1000", true},
		{"[2001:db8:1:2::ffff]:1000", false}, // the same /64
		{"[2001:db8:1:3::1]:1000", true},
		{"10.1.2.3:1000", true}, // exempt
		{"10.1.2.3:1001", true},
		{"not an address", true},
	}
	for _, tc := range cases {
		if got := r.allow(tc.addr, now); got != tc.want {
			t.Errorf("allow(%s) = %t, want %t", tc.addr, got, tc.want)
		}
	}
	// Addresses back to a full burst are forgotten at the next sweep.
	later := now.Add(11 * time.Second)
	r.allow("192.0.2.9:1", later)
	r.mu.Lock()
	n := len(r.limiters)
	r.mu.Unlock()
	if n != 1 {
		t.Errorf("%d addresses kept after the sweep, want 1", n)
	}
}

func TestCertReload(t *testing.T) {
	dir := t.TempDir()
	cert, key, _, err := WriteTestCert(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := &certReloader{certFile: cert, keyFile: key}
	if err := r.load(); err != nil {
		t.Fatal(err)
	}
	first, _ := r.get(nil)
	if _, _, _, err := WriteTestCert(dir, 2); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	for _, f := range []string{cert, key} {
		if err := os.Chtimes(f, future, future); err != nil {
			t.Fatal(err)
		}
	}
	if same, _ := r.get(nil); same != first {
		t.Fatal("reloaded before the check interval")
	}
	r.lastCheck = time.Time{}
	second, _ := r.get(nil)
	if second == first {
		t.Fatal("changed files were not reloaded")
	}
	// A broken pair keeps the one in use, and fails at start.
	if err := os.WriteFile(cert, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(cert, future.Add(time.Minute), future.Add(time.Minute))
	r.lastCheck = time.Time{}
	if kept, _ := r.get(nil); kept != second {
		t.Fatal("a broken pair replaced the certificate in use")
	}
	if _, err := LoadTLS(cert, key); err == nil {
		t.Fatal("LoadTLS accepted a broken certificate")
	}
}

// WriteTestCert writes a self-signed certificate for 127.0.0.1 and its key to dir (for the
// tests of this package and of transport_test), and returns a pool that trusts it.
func WriteTestCert(dir string, serial int64) (certFile, keyFile string, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "herald test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool, nil
}
