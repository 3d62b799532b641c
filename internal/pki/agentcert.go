package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ErrInvalidCSR is returned (wrapped) by [Authority.SignAgentCSR] when the
// certificate signing request cannot be decoded, its signature does not
// verify, or its key is of an unsupported type or size. Callers map it to an
// Invalid error; test with errors.Is.
var ErrInvalidCSR = errors.New("invalid certificate signing request")

// ErrInvalidMachineID is returned (wrapped) when a machine ID does not have
// the form "mch_" followed by 20 to 40 characters of [a-z0-9], or when an
// agent certificate carries no well-formed drawbridge://machine/ URI.
var ErrInvalidMachineID = errors.New("invalid machine ID")

// MachineURIScheme and MachineURIHost form the URI SAN of agent certificates:
// drawbridge://machine/<machine ID>.
const (
	MachineURIScheme = "drawbridge"
	MachineURIHost   = "machine"
)

// SignAgentCSR issues a client certificate for the agent of machineID from a
// PEM-encoded PKCS #10 request. Only the request's public key is used: its
// subject and extensions are ignored. The certificate has CommonName =
// machineID, the URI SAN drawbridge://machine/<machineID>, extended key usage
// client authentication only, NotBefore = now-1m and NotAfter = now+ttl
// (capped at the CA's own expiry).
//
// It returns an error wrapping [ErrInvalidCSR] for a bad request and
// [ErrInvalidMachineID] for a malformed machineID. It is safe for concurrent
// use.
func (a *Authority) SignAgentCSR(csrPEM []byte, machineID string, ttl time.Duration, now time.Time) (certPEM []byte, notAfter time.Time, err error) {
	if err := validMachineID(machineID); err != nil {
		return nil, time.Time{}, fmt.Errorf("pki: sign agent certificate: %w", err)
	}
	if ttl <= 0 {
		return nil, time.Time{}, fmt.Errorf("pki: sign agent certificate: ttl %v is not positive", ttl)
	}
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("pki: sign agent certificate: %w: %w", ErrInvalidCSR, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("pki: sign agent certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: machineID},
		URIs:                  []*url.URL{MachineURI(machineID)},
		NotBefore:             now.Add(-backdate),
		NotAfter:              minTime(now.Add(ttl), a.caCert.NotAfter),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.caCert, csr.PublicKey, a.caKey)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("pki: sign agent certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), tmpl.NotAfter, nil
}

func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE REQUEST", block.Type)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too small", k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("unsupported public key type %T", k)
	}
	return csr, nil
}

// MachineURI returns the URI SAN that identifies machineID in an agent
// certificate: drawbridge://machine/<machineID>.
func MachineURI(machineID string) *url.URL {
	return &url.URL{Scheme: MachineURIScheme, Host: MachineURIHost, Path: "/" + machineID}
}

// MachineIDFromCert returns the machine ID of an agent certificate, read from
// its drawbridge://machine/<id> URI SAN (never from the CommonName). It does
// not verify the certificate: call it on a certificate Go's TLS stack has
// already verified against the CA (for example r.TLS.VerifiedChains[0][0]).
// It returns an error wrapping [ErrInvalidMachineID] when there is not exactly
// one drawbridge URI or the ID is malformed.
func MachineIDFromCert(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", fmt.Errorf("pki: %w: no certificate", ErrInvalidMachineID)
	}
	var found *url.URL
	for _, u := range cert.URIs {
		if u.Scheme != MachineURIScheme {
			continue
		}
		if found != nil {
			return "", fmt.Errorf("pki: %w: certificate has more than one %s URI", ErrInvalidMachineID, MachineURIScheme)
		}
		found = u
	}
	if found == nil {
		return "", fmt.Errorf("pki: %w: certificate has no %s URI", ErrInvalidMachineID, MachineURIScheme)
	}
	if found.Host != MachineURIHost || found.User != nil || found.Opaque != "" ||
		found.RawQuery != "" || found.ForceQuery || found.Fragment != "" || found.RawPath != "" {
		return "", fmt.Errorf("pki: %w: malformed URI %q", ErrInvalidMachineID, found.String())
	}
	id, ok := strings.CutPrefix(found.Path, "/")
	if !ok {
		return "", fmt.Errorf("pki: %w: malformed URI %q", ErrInvalidMachineID, found.String())
	}
	if err := validMachineID(id); err != nil {
		return "", fmt.Errorf("pki: %w", err)
	}
	return id, nil
}

// validMachineID checks "mch_" followed by 20–40 characters of [a-z0-9].
func validMachineID(id string) error {
	rest, ok := strings.CutPrefix(id, "mch_")
	if ok && len(rest) >= 20 && len(rest) <= 40 {
		ok = true
		for _, c := range []byte(rest) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrInvalidMachineID, id)
}
