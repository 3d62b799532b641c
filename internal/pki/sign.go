package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// SignDigest signs a SHA-256 digest with the CA key (ECDSA, ASN.1 form).
// Callers must put a fixed, purpose-specific tag in what they hash (as the
// audit head does), so that a signature made here can never pass for a
// certificate or another kind of statement. It is safe for concurrent use.
func (a *Authority) SignDigest(digest []byte) ([]byte, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("pki: sign: want a %d-byte SHA-256 digest", sha256.Size)
	}
	return a.caKey.Sign(rand.Reader, digest, crypto.SHA256)
}

// VerifyDigest checks a signature made by SignDigest against the CA
// certificate ca (for example loaded from ca.pem).
func VerifyDigest(ca *x509.Certificate, digest, sig []byte) error {
	pub, ok := ca.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return errors.New("pki: the CA key is not ECDSA")
	}
	if !ecdsa.VerifyASN1(pub, digest, sig) {
		return errors.New("pki: signature does not match the CA key")
	}
	return nil
}

// LoadCACertFile reads the first certificate of a PEM file such as ca.pem.
func LoadCACertFile(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: CA file: %w", err)
	}
	c, err := parseCertPEM(data)
	if err != nil {
		return nil, fmt.Errorf("pki: CA file %s: %w", path, err)
	}
	return c, nil
}
