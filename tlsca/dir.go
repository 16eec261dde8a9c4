package tlsca

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/callvault/callvault/internal/atomicfile"
)

// The local CA of a data directory lives in DATA/tls:
//
//	ca.pem         the CA certificate, for SSL_CERT_FILE, curl --cacert, NODE_EXTRA_CA_CERTS
//	ca-key.pem     the CA's private key and certificate (0600), as New writes them
//	server.pem     the server certificate and its private key (0600), issued by the CA
//
// The CA is made once and kept, so that a client trusts it across restarts;
// the server certificate is issued again when it nears its end or lacks a
// name the server now needs. Each file is replaced whole, so a process
// never reads half of one.
const (
	DirName        = "tls"
	CertFile       = "ca.pem"
	KeyFile        = "ca-key.pem"
	serverCertFile = "server.pem"
)

// OpenDir returns the CA of the data directory dataDir, making it if there
// is none (processes that make it at once all end up with the same one),
// and the absolute path of its certificate, ca.pem, written again when
// missing or stale.
func OpenDir(dataDir string, now time.Time) (*CA, string, error) {
	dir := filepath.Join(dataDir, DirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("tls: %w", err)
	}
	keyPath := filepath.Join(dir, KeyFile)
	ca, err := readCA(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		var data []byte
		if data, err = New(now); err != nil {
			return nil, "", err
		}
		if err := publishFile(keyPath, data); err != nil {
			return nil, "", err
		}
		ca, err = readCA(keyPath) // the winner's, if another process made one too
	}
	if err != nil {
		return nil, "", err
	}
	certPath, err := WriteCert(ca, filepath.Join(dir, CertFile))
	if err != nil {
		return nil, "", err
	}
	return ca, certPath, nil
}

// ReadDir returns the CA of the data directory dataDir as New wrote it
// (ca-key.pem), or an fs.ErrNotExist error when there is none: what a
// database imports once from a data directory.
func ReadDir(dataDir string) ([]byte, error) {
	keyPath := filepath.Join(dataDir, DirName, KeyFile)
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	if _, err := Parse(data); err != nil {
		return nil, damaged(keyPath, err)
	}
	return data, nil
}

// WriteCert writes the CA's certificate to path unless it is there already,
// and returns path made absolute.
func WriteCert(ca *CA, path string) (string, error) {
	certPEM := ca.CertPEM()
	if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, certPEM) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
		if err := atomicfile.Write(path, certPEM, 0o644); err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs, nil
	}
	return path, nil
}

// readCA reads the CA's key and certificate, and checks they belong together.
func readCA(keyPath string) (*CA, error) {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	ca, err := Parse(data)
	if err != nil {
		return nil, damaged(keyPath, err)
	}
	return ca, nil
}

func damaged(keyPath string, err error) error {
	return fmt.Errorf("tls: the local CA %s is damaged (%v); delete %s to make a new one, and trust the new ca.pem", keyPath, err, filepath.Dir(keyPath))
}

// DirCertificate returns the server certificate of the data directory
// dataDir for hosts, issuing a new one from the directory's CA when there is
// none, it expires within 30 days, it lacks one of hosts, or another CA
// issued it; and the path of the CA's certificate.
func DirCertificate(dataDir string, hosts []string, now time.Time) (tls.Certificate, string, error) {
	ca, caPath, err := OpenDir(dataDir, now)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	path := filepath.Join(dataDir, DirName, serverCertFile)
	if data, err := os.ReadFile(path); err == nil {
		if cert, err := tls.X509KeyPair(data, data); err == nil && ca.Serves(cert.Leaf, hosts, now) {
			return cert, caPath, nil
		}
	}
	cert, data, err := ca.Issue(hosts, now)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	return cert, caPath, nil
}

// publishFile writes data to path (0600) unless path exists: the first
// process to finish wins, and nobody's file is overwritten.
func publishFile(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.%d-%d.tmp", path, os.Getpid(), time.Now().UnixNano())
	if err := atomicfile.Write(tmp, data, 0o600); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}
