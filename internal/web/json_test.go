package web

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	d "github.com/drawbridge/drawbridge"
)

// FuzzDecodeJSON: strict decoding never panics, and a body it accepts is
// valid UTF-8 whose strings decode without replacement characters (unless
// the body spelt one out).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"justification":"a","justification":"b"}`, `{"Justification":"x"}`,
		`{"justification":"\ud800"}`, `{"justification":"\ud83d\ude80"}`, `{"justification":"\\ud800"}`,
		`{"justification":"\ud83d\u"}`, `{"justification":"\`, "{\"justification\":\"\xff\"}",
		`{"targets":[{"machine":"a","ports":[{"port":22,"Port":1}]}]}`, `{"targets":[{"ports":[{"port":"x"}]}]}`,
		`{"duration":1}`, `{"targets":{"a":1}}`, `{"x":{"y":[1,{"z":null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in d.RequestInput
		if err := decodeBytes(body, &in); err != nil {
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8: %q", body)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if !strings.Contains(string(body), "\uFFFD") && !strings.Contains(strings.ToLower(string(body)), `\ufffd`) && strings.Contains(dump(v), "\uFFFD") {
			t.Fatalf("accepted %q, which decodes with a replacement character", body)
		}
	})
}

// dump concatenates every string (keys too) in a decoded JSON value.
func dump(v any) string {
	var s strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			s.WriteString(x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				s.WriteString(k)
				walk(e)
			}
		}
	}
	walk(v)
	return s.String()
}

// TestCheckJSONDepth: nesting is bounded, whatever the target type allows.
func TestCheckJSONDepth(t *testing.T) {
	var v map[string]any
	deep := `{"x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`
	if err := decodeBytes([]byte(deep), &v); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Errorf("100,000 levels: %v, want a nesting error", err)
	}
	ok := `{"x":[[[{"y":[1]}]]]}`
	if err := decodeBytes([]byte(ok), &v); err != nil {
		t.Errorf("5 levels: %v", err)
	}
}
