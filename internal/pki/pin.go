package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// PinPrefix starts every CA pin.
const PinPrefix = "sha256:"

// ErrPinMismatch is returned (wrapped) when no certificate matches a CA pin:
// by [VerifyPinnedCA], and by the handshake of a [PinnedDialConfig]
// connection, whose error reads "server certificate does not match --ca-pin".
var ErrPinMismatch = errors.New("server certificate does not match --ca-pin")

// PinOf returns the pin of cert: "sha256:" followed by the lowercase hex
// SHA-256 of its DER-encoded SubjectPublicKeyInfo (cert.RawSubjectPublicKeyInfo).
// Hashing the public key rather than the whole certificate is the convention
// of HPKP and kubeadm's --discovery-token-ca-cert-hash; the same value can be
// computed with
//
//	openssl x509 -in ca.pem -noout -pubkey | openssl pkey -pubin -outform der | sha256sum
func PinOf(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return PinPrefix + hex.EncodeToString(sum[:])
}

// parsePin decodes a pin into its 32-byte hash. Hex digits may be in either
// case.
func parsePin(pin string) ([]byte, error) {
	h, ok := strings.CutPrefix(strings.TrimSpace(pin), PinPrefix)
	if !ok {
		return nil, fmt.Errorf("pki: CA pin must start with %q", PinPrefix)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("pki: CA pin must be %q followed by %d hex digits", PinPrefix, 2*sha256.Size)
	}
	return b, nil
}

// pinMatches compares in constant time.
func pinMatches(cert *x509.Certificate, want []byte) bool {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

// VerifyPinnedCA parses the PEM certificates in caPEM (as fetched from the
// server during enrollment) and returns a pool holding the one CA certificate
// that matches pin. Other certificates in caPEM are ignored. It returns an
// error wrapping [ErrPinMismatch] if none matches.
func VerifyPinnedCA(caPEM []byte, pin string) (*x509.CertPool, error) {
	want, err := parsePin(pin)
	if err != nil {
		return nil, err
	}
	rest := caPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: CA certificate: %w", err)
		}
		if pinMatches(cert, want) && cert.IsCA {
			pool := x509.NewCertPool()
			pool.AddCert(cert)
			return pool, nil
		}
	}
	return nil, fmt.Errorf("pki: CA certificate: %w", ErrPinMismatch)
}

// PinnedDialConfig returns a client configuration for an agent's first
// enrollment call, when it knows only the CA pin. Go's usual verification is
// switched off (InsecureSkipVerify) and replaced by a VerifyConnection check
// that fails closed: some certificate the server presents must match pin, and
// the leaf must verify against it as the only root (signature, validity
// period, server-auth usage) and be valid for the server name if the
// handshake used one. A name given as an IP address is not sent in the
// handshake, so for IP addresses the pin alone authenticates the server.
//
// A pin mismatch fails the handshake with an error wrapping [ErrPinMismatch].
// An invalid pin makes every handshake fail.
func PinnedDialConfig(pin string) *tls.Config {
	want, pinErr := parsePin(pin)
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if pinErr != nil {
				return pinErr
			}
			return verifyPinned(cs.PeerCertificates, cs.ServerName, want)
		},
	}
}

func verifyPinned(chain []*x509.Certificate, serverName string, want []byte) error {
	if len(chain) == 0 {
		return fmt.Errorf("pki: %w: no certificate presented", ErrPinMismatch)
	}
	leaf := chain[0]
	var lastErr error
	for _, c := range chain {
		if !pinMatches(c, want) {
			continue
		}
		roots := x509.NewCertPool()
		roots.AddCert(c)
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:     roots,
			DNSName:   serverName,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err == nil {
			return nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return fmt.Errorf("pki: %w: %w", ErrPinMismatch, lastErr)
	}
	return fmt.Errorf("pki: %w", ErrPinMismatch)
}

// NewKeyAndCSR generates an agent's ECDSA P-256 key and a certificate signing
// request for it. name becomes the request's CommonName, which the server
// ignores (it issues for the machine ID it assigns); it only helps people
// reading the request. Both results are PEM: the key as PKCS #8 "PRIVATE KEY",
// to be stored 0600.
func NewKeyAndCSR(name string) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create CSR: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return keyPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ClientTLSConfig returns the agent's configuration for mutual TLS with the
// server after enrollment: TLS 1.3, the server verified against caPool, and
// the agent's certificate and key presented as client certificate.
func ClientTLSConfig(caPool *x509.CertPool, certPEM, keyPEM []byte) (*tls.Config, error) {
	if caPool == nil {
		return nil, errors.New("pki: client TLS: no CA pool")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: client TLS: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      caPool,
		Certificates: []tls.Certificate{cert},
	}, nil
}

// LoadClientCAFile reads a PEM file of CA certificates, such as the one named
// by the CLI's --cacert flag (DRAWBRIDGE_CACERT), and returns them as a pool
// for tls.Config.RootCAs.
func LoadClientCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("pki: CA file %s: no PEM certificates", path)
	}
	return pool, nil
}
