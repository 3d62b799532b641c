package audit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	d "github.com/drawbridge/drawbridge"
)

// HeadVersion tags the signed form of a head.
const HeadVersion = "drawbridge.audit-head.v1"

// HeadSigned returns the bytes a head's signature covers:
//
//	str("drawbridge.audit-head.v1") i64(id) str(hash hex) i64(time unix µs)
//
// (encoded as in Canonical). The fixed tag keeps a head signature from ever
// being mistaken for a certificate or anything else the CA key signs.
func HeadSigned(h d.AuditHead) []byte {
	b := appendStr(nil, HeadVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(h.ID))
	b = appendStr(b, h.Hash)
	b = binary.BigEndian.AppendUint64(b, uint64(Micros(h.Time)))
	return b
}

// HeadDigest is the SHA-256 of HeadSigned(h): what the CA key signs.
func HeadDigest(h d.AuditHead) []byte {
	s := sha256.Sum256(HeadSigned(h))
	return s[:]
}

// SignHead sets h.Signature using sign, which signs a SHA-256 digest.
func SignHead(h *d.AuditHead, sign func(digest []byte) ([]byte, error)) error {
	sig, err := sign(HeadDigest(*h))
	if err != nil {
		return fmt.Errorf("audit: sign head: %w", err)
	}
	h.Signature = base64.StdEncoding.EncodeToString(sig)
	return nil
}

// VerifyHead checks h.Signature with verify, which checks a signature over
// a SHA-256 digest (pki.VerifyDigest with the CA certificate).
func VerifyHead(h d.AuditHead, verify func(digest, sig []byte) error) error {
	sig, err := base64.StdEncoding.DecodeString(h.Signature)
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("audit: head signature is not base64")
	}
	if _, err := DecodeHash(h.Hash); err != nil {
		return err
	}
	if err := verify(HeadDigest(h), sig); err != nil {
		return fmt.Errorf("audit: head signature does not verify: %w", err)
	}
	return nil
}
