package transport

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloadCheck is how often a handshake may look at the certificate files for a newer pair,
// so that a renewed certificate (certbot, cert-manager) is served without a restart.
const certReloadCheck = 30 * time.Second

// LoadTLS makes the TLS configuration of the listener from a PEM certificate (chain) and key.
// The files are read now, so a bad pair fails at start, and read again when they change.
// Only HTTP/1.1 is offered: a WebSocket upgrade needs it, and the HTTP API gains nothing from h2.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: r.get,
	}, nil
}

type certReloader struct {
	certFile, keyFile string

	mu        sync.Mutex
	cert      *tls.Certificate
	modTime   time.Time // the newer of the two files' modification times when loaded
	lastCheck time.Time
}

func (r *certReloader) load() error {
	mod, err := r.newestModTime()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	r.cert, r.modTime, r.lastCheck = &cert, mod, time.Now()
	return nil
}

func (r *certReloader) newestModTime() (time.Time, error) {
	var newest time.Time
	for _, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return time.Time{}, fmt.Errorf("tls: %w", err)
		}
		if st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	return newest, nil
}

// get serves the loaded certificate, reloading it first when the files changed. A pair that
// fails to load (say, the key written but not yet the certificate) keeps the old one in use.
func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastCheck) >= certReloadCheck {
		r.lastCheck = time.Now()
		if mod, err := r.newestModTime(); err == nil && !mod.Equal(r.modTime) {
			_ = r.load() // on failure the old pair stays, and the next check tries again
		}
	}
	return r.cert, nil
}
