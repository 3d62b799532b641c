package drawbridge_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	d "github.com/drawbridge/drawbridge"
)

func TestCheckText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty", "", true},
		{"plain", "deploy hotfix for INC-42", true},
		{"non-ASCII", "Wartung: Übergabe an 佐藤さん 🚀", true},
		{"literal replacement character", "a\uFFFDb", true},
		{"at the limit", strings.Repeat("é", 8), true}, // 16 bytes
		{"one byte over", strings.Repeat("é", 8) + "x", false},
		{"newline", "line one\nline two", false},
		{"tab", "a\tb", false},
		{"NUL", "a\x00b", false},
		{"escape sequence", "\x1b[31mred", false},
		{"DEL", "a\x7f", false},
		{"C1", "a\u0085b", false},
		{"bidi override", "admin\u202Etxt.exe", false},
		{"bidi isolate", "a\u2066b", false},
		{"line separator", "a\u2028b", false},
		{"invalid byte", "a\xffb", false},
		{"rune cut in the middle", "caf\xc3", false},
		{"lone surrogate as WTF-8", "a\xed\xa0\x80b", false},
		{"overlong encoding", "\xc0\xaf", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := 16
			if tt.name == "plain" || tt.name == "non-ASCII" {
				limit = 64
			}
			err := d.CheckText("reason", tt.in, limit)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckText(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil {
				e := d.AsError(err)
				if e == nil || e.Kind != d.Invalid || e.Field != "reason" {
					t.Errorf("error %#v, want Invalid naming reason", err)
				}
				if strings.Contains(e.Message, tt.in) && tt.in != "" {
					t.Errorf("message %q echoes the bad value", e.Message)
				}
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"unchanged", "all good", 64, "all good"},
		{"newlines become spaces", "nft: Error\nline 2\r\n", 64, "nft: Error line 2  "},
		{"escape sequence escaped", "\x1b[31mred\x00", 64, `\x1b[31mred\x00`},
		{"bidi override escaped", "a\u202Eb", 64, `a\u202eb`},
		{"invalid bytes replaced", "a\xff\xfeb", 64, "a\uFFFD\uFFFDb"},
		{"lone surrogate replaced", "a\xed\xa0\x80", 64, "a\uFFFD\uFFFD\uFFFD"},
		// The bug: an error cut at byte 1024 in the middle of a rune.
		{"cut on a rune boundary", "ééééé", 8, "éé…"},
		{"cut exactly", "abcdefgh", 8, "abcdefgh"},
		{"cut one over", "abcdefghi", 8, "abcde…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.CleanText(tt.in, tt.max); got != tt.want {
				t.Errorf("CleanText(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("x", 1_000_000)
	if got := d.Excerpt(long); len(got) > 40 || !strings.HasSuffix(got, "…") {
		t.Errorf("Excerpt of 1 MB = %q (%d bytes), want a short prefix ending in …", got, len(got))
	}
	if got, want := d.Excerpt("a\x1b\xff"), `"a\x1b\xff"`; got != want {
		t.Errorf("Excerpt = %s, want %s", got, want)
	}
}

// FuzzCleanText checks CleanText's promises on any input: the result is
// valid UTF-8, has no control characters, fits in max bytes, passes
// CheckText, is a fixed point, and leaves text CheckText accepts alone.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{
		"", "ok", "\x00", "\x1b[2J\x1b[H", "a\nb\r\nc\td", "\xff\xfe", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"é", strings.Repeat("é", 600), "\u202Eevil", "\u2028", "\u0085", "\uFFFD", strings.Repeat("\x00", 300),
	} {
		f.Add(s, 1024)
		f.Add(s, 7)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%2048 + 1
		if max < 0 {
			max = -max
		}
		got := d.CleanText(s, max)
		if !utf8.ValidString(got) {
			t.Fatalf("CleanText(%q, %d) = %q: invalid UTF-8", s, max, got)
		}
		if len(got) > max && max >= 3 {
			t.Fatalf("CleanText(%q, %d) = %q: %d bytes", s, max, got, len(got))
		}
		lim := max
		if lim < 3 {
			lim = 3
		}
		if err := d.CheckText("f", got, lim); err != nil {
			t.Fatalf("CleanText(%q, %d) = %q fails CheckText: %v", s, max, got, err)
		}
		if again := d.CleanText(got, max); again != got {
			t.Fatalf("not idempotent: %q → %q → %q", s, got, again)
		}
		if d.CheckText("f", s, lim) == nil && got != s {
			t.Fatalf("CleanText changed acceptable text %q to %q", s, got)
		}
		if d.Excerpt(s) == "" || !utf8.ValidString(d.Excerpt(s)) {
			t.Fatalf("Excerpt(%q) = %q", s, d.Excerpt(s))
		}
	})
}
