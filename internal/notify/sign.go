package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// SignatureHeader is the header that carries a delivery's signature.
const SignatureHeader = "Drawbridge-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock before Verify rejects it.
const DefaultTolerance = 5 * time.Minute

// Sign returns the Drawbridge-Signature value for body sent at t:
// "t=<unix seconds>,v1=<lowercase hex HMAC-SHA256(secret, "<t>." + body)>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks header (a Drawbridge-Signature value) against body and
// secret as a receiver should: one of its v1 signatures must equal the
// HMAC (compared in constant time), and its timestamp must be within
// tolerance of now (0 means DefaultTolerance), which rejects replays of old
// deliveries. It returns an Unauthenticated error saying what is wrong.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return &d.Error{Kind: d.Unauthenticated, Message: "signature header must carry t= and v1="}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return &d.Error{Kind: d.Unauthenticated, Message: "signature timestamp is not a number"}
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return &d.Error{Kind: d.Unauthenticated, Message: "signature timestamp is outside the tolerance (replayed or clock skew)"}
	}
	want := []byte(mac(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return &d.Error{Kind: d.Unauthenticated, Message: "signature does not match the body"}
}
