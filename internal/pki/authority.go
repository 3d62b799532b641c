// Package pki is Drawbridge's own small certificate authority.
//
// The server keeps one self-signed CA (ECDSA P-256, 10 years) in its data
// directory and uses it for two things: to sign the server's TLS certificate,
// and to sign the client certificates that agents use to authenticate over
// mutual TLS. People never get certificates; they present bearer tokens over
// the same TLS listener, which is why client certificates are requested but
// not required.
//
// Files in the directory (created 0700; keys 0600; every write is a temporary
// file renamed into place):
//
//	ca.pem          CA certificate (its presence marks the CA as created)
//	ca-key.pem      CA private key, PKCS #8
//	server.pem      server certificate followed by the CA certificate
//	server-key.pem  server private key, PKCS #8
//
// An agent that does not have the CA yet bootstraps trust with a pin: the
// string "sha256:" followed by the lowercase hex SHA-256 of the CA
// certificate's DER-encoded SubjectPublicKeyInfo (see [PinOf]). The pin is
// shown by the server and passed to the agent as --ca-pin together with the
// join token; [PinnedDialConfig] and [VerifyPinnedCA] check it.
//
// Agent certificates carry the machine ID twice: as the subject CommonName
// (for people reading logs) and as the URI SAN drawbridge://machine/<id>,
// which is the authoritative one ([MachineIDFromCert]).
//
// Only the standard library is used.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// File names inside the authority's directory.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

// Validity periods.
const (
	// CAValidityYears is how long a new CA certificate is valid.
	CAValidityYears = 10
	// ServerValidity is how long a server certificate is valid.
	ServerValidity = 365 * 24 * time.Hour
	// ServerRenewBefore is how close to expiry a server certificate is
	// re-issued by [LoadOrCreate] and [Authority.Renew].
	ServerRenewBefore = 30 * 24 * time.Hour
)

// backdate is subtracted from NotBefore of every issued certificate to
// tolerate small clock differences between server and agents.
const backdate = time.Minute

// defaultHosts are always in the server certificate, so that local CLI use and
// health checks work without configuration.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// Authority is the server's CA together with its current server certificate.
// It is safe for concurrent use.
type Authority struct {
	dir    string
	caCert *x509.Certificate
	caKey  crypto.Signer
	caPEM  []byte

	mu     sync.RWMutex
	server *tls.Certificate // leaf parsed into server.Leaf; chain is leaf + CA
}

// LoadOrCreate opens the authority stored in dir, creating what is missing.
//
// On first start it creates the directory (0700), a new CA and a server
// certificate for hosts. On later starts it loads both; the server
// certificate is re-issued (the CA is kept) when it does not cover every
// requested host, expires within [ServerRenewBefore] of now, was not signed by
// the CA, or does not match its key. hosts may hold DNS names and IP
// addresses (IPv6 with or without brackets); localhost, 127.0.0.1 and ::1 are
// always added.
//
// If ca.pem exists but ca-key.pem cannot be loaded or does not match, it
// returns an error rather than replacing the CA, since that would orphan every
// enrolled agent.
func LoadOrCreate(dir string, hosts []string, now time.Time) (*Authority, error) {
	names, ips, err := splitHosts(hosts)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	a := &Authority{dir: dir}
	if err := a.loadCA(); errors.Is(err, fs.ErrNotExist) {
		if err := a.createCA(now); err != nil {
			return nil, fmt.Errorf("pki: create CA: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	if err := a.Reload(); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errServerCert) {
		return nil, err
	}
	if _, err := a.renew(names, ips, now); err != nil {
		return nil, err
	}
	return a, nil
}

// Dir returns the directory the authority was loaded from.
func (a *Authority) Dir() string { return a.dir }

// CACert returns the CA certificate. The caller must not modify it.
func (a *Authority) CACert() *x509.Certificate { return a.caCert }

// CAPEM returns the PEM encoding of the CA certificate, as served to agents
// during enrollment and written to --cacert files for the CLI.
func (a *Authority) CAPEM() []byte { return bytes.Clone(a.caPEM) }

// Pin returns the CA pin, "sha256:" + lowercase hex of SHA-256 over the CA
// certificate's DER-encoded SubjectPublicKeyInfo. See [PinOf].
func (a *Authority) Pin() string { return PinOf(a.caCert) }

// ServerCert returns the current server certificate (leaf). The caller must
// not modify it.
func (a *Authority) ServerCert() *x509.Certificate {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.server.Leaf
}

// TLSConfig returns the configuration for the server's listener: TLS 1.3
// only, the current server certificate through GetCertificate (so [Authority.Reload]
// and [Authority.Renew] take effect for new connections without a restart), and
// client certificates verified against the CA if the client presents one.
// Agents present one; people use bearer tokens, so a missing certificate is not
// an error at this layer. Use it with http.Server.ServeTLS(ln, "", "").
func (a *Authority) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(a.caCert)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  pool,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			a.mu.RLock()
			defer a.mu.RUnlock()
			return a.server, nil
		},
	}
}

// Reload re-reads server.pem and server-key.pem from the directory and, if they
// form a valid pair signed by the CA, makes them the certificate served to new
// connections. On error the current certificate stays in use.
func (a *Authority) Reload() error {
	certPEM, err := os.ReadFile(filepath.Join(a.dir, ServerFile))
	if err != nil {
		return fmt.Errorf("pki: reload server certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(a.dir, ServerKeyFile))
	if err != nil {
		return fmt.Errorf("pki: reload server certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("pki: reload server certificate: %w: %w", errServerCert, err)
	}
	if err := cert.Leaf.CheckSignatureFrom(a.caCert); err != nil {
		return fmt.Errorf("pki: reload server certificate: %w: not signed by the CA: %w", errServerCert, err)
	}
	a.mu.Lock()
	a.server = &cert
	a.mu.Unlock()
	return nil
}

// errServerCert marks an unusable server certificate on disk, which
// LoadOrCreate replaces instead of failing.
var errServerCert = errors.New("invalid server certificate")

// Renew re-issues the server certificate if it does not cover every host in
// hosts (plus the defaults), is not valid at now, or expires within
// [ServerRenewBefore] of now; the new certificate is written to the directory
// and served to new connections. It reports whether it re-issued. A server
// may call it periodically so that a long-running process never serves an
// expired certificate.
func (a *Authority) Renew(hosts []string, now time.Time) (bool, error) {
	names, ips, err := splitHosts(hosts)
	if err != nil {
		return false, fmt.Errorf("pki: %w", err)
	}
	return a.renew(names, ips, now)
}

func (a *Authority) renew(names []string, ips []netip.Addr, now time.Time) (bool, error) {
	a.mu.RLock()
	cur := a.server
	a.mu.RUnlock()
	if cur != nil && covers(cur.Leaf, names, ips) &&
		!now.Before(cur.Leaf.NotBefore) && now.Add(ServerRenewBefore).Before(cur.Leaf.NotAfter) {
		return false, nil
	}
	if err := a.issueServer(names, ips, now); err != nil {
		return false, fmt.Errorf("pki: issue server certificate: %w", err)
	}
	return true, nil
}

// covers reports whether cert names every DNS name and IP address exactly.
// Exact matching (no wildcard logic) keeps re-issue decisions predictable.
func covers(cert *x509.Certificate, names []string, ips []netip.Addr) bool {
	for _, n := range names {
		if !slices.ContainsFunc(cert.DNSNames, func(d string) bool { return strings.EqualFold(d, n) }) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, func(c net.IP) bool {
			a, ok := netip.AddrFromSlice(c)
			return ok && a.Unmap() == ip
		}) {
			return false
		}
	}
	return true
}

// splitHosts adds the defaults to hosts, separates IP addresses from DNS
// names, and removes duplicates.
func splitHosts(hosts []string) (names []string, ips []netip.Addr, err error) {
	for _, h := range slices.Concat(defaultHosts, hosts) {
		h = strings.TrimSpace(h)
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if h == "" {
			continue
		}
		if ip, err := netip.ParseAddr(h); err == nil {
			if ip.Zone() != "" {
				return nil, nil, fmt.Errorf("host %q: IP address with zone", h)
			}
			ip = ip.Unmap()
			if !slices.Contains(ips, ip) {
				ips = append(ips, ip)
			}
			continue
		}
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if !validDNSName(h) {
			return nil, nil, fmt.Errorf("host %q: not an IP address or DNS name", h)
		}
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	return names, ips, nil
}

func validDNSName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for i, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		if label == "*" && i == 0 {
			continue
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (a *Authority) loadCA() error {
	certPEM, err := os.ReadFile(filepath.Join(a.dir, CAFile))
	if err != nil {
		return err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", CAFile, err)
	}
	if !cert.IsCA {
		return fmt.Errorf("%s: not a CA certificate", CAFile)
	}
	keyPEM, err := os.ReadFile(filepath.Join(a.dir, CAKeyFile))
	if err != nil {
		// Wrapped as a plain error: a missing key next to an existing
		// certificate must not make LoadOrCreate create a new CA.
		return fmt.Errorf("%s: %v", CAKeyFile, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("%s does not match %s", CAKeyFile, CAFile)
	}
	a.caCert, a.caKey, a.caPEM = cert, key, certPEM
	return nil
}

func (a *Authority) createCA(now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Drawbridge CA " + fmt.Sprintf("%032x", serial)[:8], Organization: []string{"Drawbridge"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.AddDate(CAValidityYears, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Key first: ca.pem is the marker that the CA exists.
	if err := writeFileAtomic(filepath.Join(a.dir, CAKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(a.dir, CAFile), certPEM, 0o644); err != nil {
		return err
	}
	a.caCert, a.caKey, a.caPEM = cert, key, certPEM
	return nil
}

func (a *Authority) issueServer(names []string, ips []netip.Addr, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	cn := "drawbridge server"
	for _, n := range names {
		if n != "localhost" {
			cn = n
			break
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Drawbridge"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              minTime(now.Add(ServerValidity), a.caCert.NotAfter),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.caCert, &key.PublicKey, a.caKey)
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	// The chain includes the CA so that an agent dialing with only a pin
	// (PinnedDialConfig) can find the pinned key in what the server presents.
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certPEM = append(certPEM, a.caPEM...)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(a.dir, ServerKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(a.dir, ServerFile), certPEM, 0o644); err != nil {
		return err
	}
	a.mu.Lock()
	a.server = &cert
	a.mu.Unlock()
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCertPEM returns the first certificate in data.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no CERTIFICATE PEM block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// parseKeyPEM accepts PKCS #8 ("PRIVATE KEY") and SEC 1 ("EC PRIVATE KEY") keys.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no private key PEM block")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported private key type %T", k)
			}
			return s, nil
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		}
	}
}

// writeFileAtomic writes data to a temporary file in the same directory and
// renames it over name, so readers see either the old or the new contents.
func writeFileAtomic(name string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// CreateTemp already uses 0600; Chmod makes public files readable and
	// ignores the umask for keys.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return err
	}
	// Persist the rename itself; best effort, as not every filesystem
	// supports syncing a directory.
	if d, err := os.Open(filepath.Dir(name)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
