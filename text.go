package drawbridge

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Free text is what people type (justifications, reasons, names) and what
// machines report (an agent's apply error, its inventory, an identity
// provider's names). All of it reaches the audit chain or a terminal, so
// every such field passes through this file, and the rule is the same
// everywhere: valid UTF-8 (a lone surrogate, as WTF-8 or a JSON "\ud800"
// escape, is not), no control characters, a bounded length in bytes.
//
// Text a person typed is checked with CheckText: bad input is a 400 naming
// the field, never silently changed. Text a machine generated is made safe
// with CleanText: invalid bytes replaced, control characters escaped, cut
// on a rune boundary.
//
// Why it matters for the chain: the audit hash covers a field's bytes, and
// a JSON or CSV export can carry only valid UTF-8. An event holding invalid
// UTF-8 (say, an error cut in the middle of a rune) would be exported with
// U+FFFD in its place and no longer verify.

// Limits on free text, in bytes.
const (
	MaxReason       = 1024 // revoke, done, approve, deny and extend reasons
	MaxMachineText  = 1024 // an agent's apply error and other machine-reported text
	MaxEventText    = 4096 // any free-text field of an audit event (the last guard)
	maxExcerptRunes = 32   // how much of a bad value an error message shows
	excerptEllipsis = "…"
)

// IsControl reports whether r is a control character for Drawbridge's
// purposes: C0 (including tab and newline), DEL, C1, the line and paragraph
// separators, and the bidirectional embedding, override and isolate
// characters that can make a terminal show text in a different order than
// it is stored ("Trojan Source").
func IsControl(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	}
	return false
}

// CheckText checks text a person typed for field: valid UTF-8, no control
// characters (see IsControl), at most max bytes. It returns an Invalid
// error naming field; the message says what is wrong and where (a byte
// offset), never echoing the value.
func CheckText(field, s string, max int) error {
	if len(s) > max {
		return FieldErrorf(field, "%s is longer than %d bytes (%d)", field, max, len(s))
	}
	switch i, r := firstBad(s); {
	case i < 0:
		return nil
	case r == utf8.RuneError:
		return FieldErrorf(field, "%s is not valid UTF-8 at byte %d", field, i)
	default:
		return FieldErrorf(field, "%s contains the control character %U at byte %d", field, r, i)
	}
}

// firstBad returns the offset of the first invalid byte (and
// utf8.RuneError) or control character (and it) in s, or -1.
func firstBad(s string) (int, rune) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return i, r // an invalid byte, not a literal U+FFFD
			}
		}
		if IsControl(r) {
			return i, r
		}
	}
	return -1, 0
}

// CleanText makes machine-generated text safe to store and show: invalid
// UTF-8 becomes U+FFFD, tab, CR and newline become a space, other control
// characters are escaped (\x1b, \u202e), and the result is cut on a rune
// boundary to at most max bytes (at least 3), ending in "…" when cut.
// CleanText is idempotent, and text that CheckText accepts comes back
// unchanged.
func CleanText(s string, max int) string {
	max = maxInt(max, len(excerptEllipsis))
	if textOK(s, max) {
		return s // the common case: nothing to do
	}
	var b strings.Builder
	whole := true
	for _, r := range s {
		if b.Len() > max {
			whole = false // it will be cut anyway
			break
		}
		switch {
		case r == utf8.RuneError:
			b.WriteString("\uFFFD") // an invalid byte, or a literal U+FFFD
		case r == '\t', r == '\n', r == '\r':
			b.WriteByte(' ')
		case IsControl(r):
			b.WriteString(escapeControl(r))
		default:
			b.WriteRune(r)
		}
	}
	out := b.String()
	if whole && len(out) <= max {
		return out
	}
	cut := max - len(excerptEllipsis)
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + excerptEllipsis
}

// textOK reports whether CheckText would accept s.
func textOK(s string, max int) bool {
	if len(s) > max {
		return false
	}
	i, _ := firstBad(s)
	return i < 0
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func escapeControl(r rune) string {
	if r < 0x100 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}

// Excerpt returns a short, quoted, printable excerpt of s for an error
// message: at most 32 runes, invalid bytes and control characters escaped
// (as strconv.Quote does), "…" when cut. Errors never echo more of a bad
// value than this.
func Excerpt(s string) string {
	n := 0
	for i := range s {
		if n == maxExcerptRunes {
			return strconv.Quote(s[:i]) + excerptEllipsis
		}
		n++
	}
	return strconv.Quote(s)
}
