package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// Version is the canonical encoding's tag, the first field of every encoding.
const Version = "drawbridge.event.v1"

// HashSize is the length of a chain hash in bytes.
const HashSize = sha256.Size

// Genesis is the PrevHash of the first event of a chain that was never pruned.
var Genesis = make([]byte, HashSize)

// Canonical returns the version-1 canonical encoding of e (see the package
// comment). PrevHash and Hash are not part of it.
func Canonical(e *d.Event) []byte {
	n := 4 + len(Version) + 8 + 8
	strs := [...]string{e.Actor, e.ActorName, e.ActorSource, e.Action, e.Target, e.Result, e.Reason, string(e.RequestID), e.Details}
	for _, s := range strs {
		n += 4 + len(s)
	}
	b := make([]byte, 0, n)
	b = appendStr(b, Version)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ID))
	b = binary.BigEndian.AppendUint64(b, uint64(Micros(e.Time)))
	for _, s := range strs {
		b = appendStr(b, s)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Micros is the time as the chain (and the store) keeps it: unix
// microseconds, 0 for the zero time.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// Sum returns SHA-256(prev || Canonical(e)). prev must be HashSize bytes.
func Sum(prev []byte, e *d.Event) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(Canonical(e))
	return h.Sum(nil)
}

// Seal sets e.PrevHash to prev and e.Hash to Sum(prev, e), both in hex.
// e.ID and e.Time must be final: they are hashed.
func Seal(prev []byte, e *d.Event) []byte {
	sum := Sum(prev, e)
	e.PrevHash = hex.EncodeToString(prev)
	e.Hash = hex.EncodeToString(sum)
	return sum
}

// DecodeHash parses a hex chain hash.
func DecodeHash(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != HashSize {
		return nil, fmt.Errorf("audit: %q is not a %d-byte hex hash", s, HashSize)
	}
	return b, nil
}
