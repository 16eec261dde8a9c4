package tlsca

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// CertFiles is a certificate and key given as files (serve's --tls-cert
// and --tls-key), read again when either file changes (a renewal), at most
// every 10 seconds. It is safe for concurrent use.
type CertFiles struct {
	certPath, keyPath string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time // the files' modification times when read
	checked time.Time
}

// LoadCertFiles reads the certificate chain at certPath and its private key
// at keyPath, both PEM.
func LoadCertFiles(certPath, keyPath string) (*CertFiles, error) {
	f := &CertFiles{certPath: certPath, keyPath: keyPath}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *CertFiles) load() error {
	var stamp [2]time.Time
	for i, p := range []string{f.certPath, f.keyPath} {
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		stamp[i] = info.ModTime()
	}
	cert, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		return fmt.Errorf("tls: --tls-cert %s and --tls-key %s: %w", f.certPath, f.keyPath, err)
	}
	f.cert, f.stamp = &cert, stamp
	return nil
}

// GetCertificate returns the certificate to serve, for
// tls.Config.GetCertificate: the files' content as last read well.
func (f *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= 10*time.Second {
		f.checked = now
		changed := false
		for i, p := range []string{f.certPath, f.keyPath} {
			if info, err := os.Stat(p); err == nil && !info.ModTime().Equal(f.stamp[i]) {
				changed = true
			}
		}
		if changed {
			f.load() // a half-written renewal fails to load; the old pair stays
		}
	}
	return f.cert, nil
}
