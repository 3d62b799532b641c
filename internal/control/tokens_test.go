package control

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// tokenNamePattern is the regular expression validTokenName replaces; the
// tests hold the hand-written check to it.
var tokenNamePattern = regexp.MustCompile(`^[\pL\pN][\pL\pN ._@-]{0,63}$`)

func TestValidTokenNameMatchesPattern(t *testing.T) {
	cases := []string{
		"", " ", "a", "A", "0", "admin", "ci deploy", "ci.deploy_bot@example-1",
		" a", ".a", "_a", "@a", "-a", "a ", "a.", "a_", "a@", "a-",
		"a\tb", "a\nb", "a\n", "\na", "a,b", "a/b", "a:b", "a+b", "a$", "^a",
		"é", "ñandú", "日本語", "Ωmega", "٣", "Ⅻ", "½", "²", "x²", "ǅ", "ʰ", "々",
		"a\u00a0b", "a\u2003b", "a\u200bb", "a\u0301", "\u0301a", "🙂", "a🙂",
		"\xff", "a\xff", "\xffa", "a\xc3", "\xef\xbf\xbd", "a\xef\xbf\xbd", "a\x00",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 65),
		strings.Repeat("é", 64), strings.Repeat("é", 65), "a" + strings.Repeat(" ", 63),
		"a" + strings.Repeat(" ", 64), strings.Repeat("日", 64), strings.Repeat("日", 65),
	}
	for _, s := range cases {
		if got, want := validTokenName(s), tokenNamePattern.MatchString(s); got != want {
			t.Errorf("validTokenName(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}

// TestValidTokenNameRandom compares the check with the pattern over random
// strings drawn from an alphabet of the interesting classes, lengths around
// the limit and invalid bytes included.
func TestValidTokenNameRandom(t *testing.T) {
	alphabet := []string{"a", "Z", "7", "é", "日", "٣", "Ⅻ", " ", ".", "_", "@", "-", ",", "\t", "\n",
		"\u0301", "\u00a0", "🙂", "\xff", "\xc3", "\xef\xbf\xbd", "/", "$"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		n := r.IntN(70)
		for j := 0; j < n; j++ {
			// mostly valid runes, so long valid names and near-misses both occur
			if r.IntN(10) < 8 {
				b.WriteString(alphabet[r.IntN(12)])
			} else {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			}
		}
		s := b.String()
		if got, want := validTokenName(s), tokenNamePattern.MatchString(s); got != want {
			t.Fatalf("validTokenName(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}
