package agent

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Files in the agent's data directory.
const (
	identityFile = "agent.json"
	keyFile      = "agent-key.pem"
	certFile     = "agent.pem"
	caFile       = "ca.pem"
	stateFile    = "state.json"
)

// identity is who this agent is to the server.
type identity struct {
	MachineID d.MachineID `json:"machine_id"`
	Name      string      `json:"name"`
	Server    string      `json:"server"`
}

// creds holds the current client certificate; renewal swaps it atomically.
type creds struct {
	dir  string
	id   identity
	pool *x509.CertPool
	cert atomic.Pointer[tls.Certificate]
}

func loadIdentity(dir string) (*creds, error) {
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if err != nil {
		return nil, err
	}
	c := &creds{dir: dir}
	if err := json.Unmarshal(b, &c.id); err != nil {
		return nil, fmt.Errorf("read %s: %w", identityFile, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return nil, err
	}
	c.pool = x509.NewCertPool()
	if !c.pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	if err := c.loadCert(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *creds) loadCert() error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.dir, certFile), filepath.Join(c.dir, keyFile))
	if err != nil {
		return fmt.Errorf("load client certificate: %w", err)
	}
	c.cert.Store(&cert)
	return nil
}

// notAfter returns the current certificate's validity window.
func (c *creds) window() (time.Time, time.Time) {
	leaf := c.cert.Load().Leaf
	if leaf == nil {
		return time.Time{}, time.Time{}
	}
	return leaf.NotBefore, leaf.NotAfter
}

// tlsConfig is the mTLS configuration; the certificate is read at each handshake.
func (c *creds) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    c.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.cert.Load(), nil
		},
	}
}

// saveEnrollment writes the identity, key, certificate and CA, key 0600.
func saveEnrollment(dir string, id identity, keyPEM []byte, e *d.Enrollment) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{keyFile, keyPEM, 0o600},
		{certFile, []byte(e.Certificate), 0o644},
		{caFile, []byte(e.CA), 0o644},
	}
	if id.MachineID != "" {
		b, _ := json.MarshalIndent(id, "", "  ")
		files = append(files, struct {
			name string
			data []byte
			mode os.FileMode
		}{identityFile, b, 0o600})
	}
	for _, f := range files {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(name string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// checkCertPEM verifies that a certificate from the server chains to the CA.
func checkCertPEM(pool *x509.CertPool, certPEM string) error {
	blk, _ := pem.Decode([]byte(certPEM))
	if blk == nil {
		return errors.New("server sent no certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

func readFile(dir, name string) []byte {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return b
}
