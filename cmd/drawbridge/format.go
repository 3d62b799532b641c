package main

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	d "github.com/drawbridge/drawbridge"
)

func ts8601(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return d.Duration(now.Sub(t).Truncate(time.Second)).String() + " ago"
}

func rulesSummary(p *d.Policy) string {
	if p == nil {
		return "-"
	}
	var s []string
	for _, r := range p.Rules {
		s = append(s, fmt.Sprintf("%d/%s", r.Port, r.Protocol))
	}
	if !p.Enabled {
		return "(disabled) " + strings.Join(s, ",")
	}
	return strings.Join(s, ",")
}

var statusNames = map[d.MachineStatus]string{
	d.Configured:    "Configured",
	d.NotConfigured: "Not configured",
	d.Unsupported:   "Unsupported",
}

// safe is the one escaping function for text that came from the server
// (names, reasons, justifications, inventory, error messages) on its way
// to a terminal: control characters (C0, DEL, C1), bidirectional overrides
// and isolates, line and paragraph separators and invalid UTF-8 are shown as
// Go escapes (\x1b, \n, \u202e), so stored data can neither move the
// cursor, recolour or retitle the terminal, reorder what is shown, nor break
// a table row. Other text, including non-ASCII letters, is kept.
func safe(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unsafeRune(r) {
			return true
		}
	}
	return false
}

// unsafeRune reports whether r may change how a terminal shows what follows.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r < 0xa0: // C0 (with TAB and LF), DEL, C1
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // ALM, LRM, RLM
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// escapeStrings applies safe to every string reachable from v (a pointer
// to a decoded response: struct fields, slices, maps, pointers), so a table
// printed from it shows server data only through safe. Map keys are left
// alone unless they need escaping, in which case the entry is re-keyed.
func escapeStrings(v any) {
	escapeValue(reflect.ValueOf(v))
}

func escapeValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			escapeValue(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				escapeValue(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // raw bytes (json.RawMessage): not printed in tables
		}
		for i := range v.Len() {
			escapeValue(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		iter := v.MapRange()
		type kv struct{ k, v reflect.Value }
		var entries []kv
		for iter.Next() {
			entries = append(entries, kv{iter.Key(), iter.Value()})
		}
		for _, e := range entries {
			k, val := reflect.New(e.k.Type()).Elem(), reflect.New(e.v.Type()).Elem()
			k.Set(e.k)
			val.Set(e.v)
			escapeValue(k)
			escapeValue(val)
			v.SetMapIndex(e.k, reflect.Value{})
			v.SetMapIndex(k, val)
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(safe(v.String()))
		}
	}
}
