package drawbridge_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"iso hours", "PT3H", 3 * time.Hour},
		{"iso day", "P1D", 24 * time.Hour},
		{"iso day and time", "P1DT2H30M", 26*time.Hour + 30*time.Minute},
		{"iso fractional seconds", "PT1.5S", 1500 * time.Millisecond},
		{"iso minutes past an hour", "PT90M", 90 * time.Minute},
		{"iso seconds", "PT90S", 90 * time.Second},
		{"iso all units", "P1DT1H1M1S", 25*time.Hour + time.Minute + time.Second},
		{"iso lower case", "pt3h", 3 * time.Hour},
		{"iso zero", "PT0S", 0},
		{"iso fractional last unit", "PT1H1.5M", time.Hour + 90*time.Second},
		{"iso fraction rounded to milliseconds", "PT0.0015S", 2 * time.Millisecond},
		{"iso the maximum", "P366D", 366 * 24 * time.Hour},
		{"surrounding space", "  PT1H\t", time.Hour},
		{"go hours", "3h", 3 * time.Hour},
		{"go compound", "1h30m", 90 * time.Minute},
		{"go seconds", "90s", 90 * time.Second},
		{"go fraction", "1.5s", 1500 * time.Millisecond},
		{"go milliseconds", "250ms", 250 * time.Millisecond},
		{"go zero", "0s", 0},
		{"go the maximum", "8784h", 366 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q) error: %v", tt.in, err)
			}
			if got.Std() != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, got.Std(), tt.want)
			}
		})
	}
}

func TestParseDurationRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"blank", "   "},
		{"negative go", "-1h"},
		{"negative iso", "-PT1H"},
		{"bare P", "P"},
		{"PT without components", "PT"},
		{"T without time components", "P1DT"},
		{"hours without T", "P1H"},
		{"seconds without T", "P30S"},
		{"days after T", "PT1D"},
		{"out of order", "PT1M2H"},
		{"repeated unit", "PT1H2H"},
		{"two Ts", "P1DTT1H"},
		{"fraction not last", "PT1.5M2S"},
		{"number without unit", "PT5"},
		{"unit without number", "PTH"},
		{"lone dot", "PT.S"},
		{"two dots", "PT1.2.3S"},
		{"years", "P1Y"},
		{"months", "P1M"},
		{"weeks", "P1W"},
		{"exponent", "PT1e3S"},
		{"sign inside", "PT-1H"},
		{"huge iso", "P367D"},
		{"huge iso across units", "P366DT1S"},
		{"huge iso digits", "PT9999999999999S"},
		{"huge go", "8785h"},
		{"overflowing go", "9999999999h"},
		{"bare number", "90"},
		{"bare zero", "0"},
		{"plus sign go", "+1h"},
		{"plus sign iso", "+PT1H"},
		{"trailing dot iso", "PT1.S"},
		{"leading dot iso", "PT.5S"},
		{"trailing dot go", "1.h"},
		{"leading dot go", ".5h"},
		{"space inside", "1h 30m"},
		{"garbage", "three hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := d.ParseDuration(tt.in); err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", tt.in, got)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{"zero", 0, "0s"},
		{"hours", 3 * time.Hour, "3h"},
		{"hours and minutes", 90 * time.Minute, "1h30m"},
		{"zero minutes omitted", time.Hour + 30*time.Second, "1h30s"},
		{"all units", time.Hour + time.Minute + time.Second, "1h1m1s"},
		{"minutes and seconds", 90 * time.Second, "1m30s"},
		{"minutes", 5 * time.Minute, "5m"},
		{"days stay hours", 48 * time.Hour, "48h"},
		{"sub-second", 1500 * time.Millisecond, "1.5s"},
		{"milliseconds", 250 * time.Millisecond, "250ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Duration(tt.in).String(); got != tt.want {
				t.Errorf("Duration(%v).String() = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDurationStringFromParse(t *testing.T) {
	// "1h0m30s" is what time.Duration prints; Duration drops the zero unit.
	got, err := d.ParseDuration("1h0m30s")
	if err != nil {
		t.Fatal(err)
	}
	if s := got.String(); s != "1h30s" {
		t.Errorf("ParseDuration(%q).String() = %q, want %q", "1h0m30s", s, "1h30s")
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		name     string
		in       string // JSON
		want     time.Duration
		wantJSON string
	}{
		{"go style", `"3h"`, 3 * time.Hour, `"3h"`},
		{"iso", `"PT1H30M"`, 90 * time.Minute, `"1h30m"`},
		{"iso day", `"P1D"`, 24 * time.Hour, `"24h"`},
		{"zero minutes", `"1h0m30s"`, time.Hour + 30*time.Second, `"1h30s"`},
		{"sub-second", `"PT1.5S"`, 1500 * time.Millisecond, `"1.5s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got d.Duration
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatalf("Unmarshal(%s) error: %v", tt.in, err)
			}
			if got.Std() != tt.want {
				t.Errorf("Unmarshal(%s) = %v, want %v", tt.in, got.Std(), tt.want)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.wantJSON {
				t.Errorf("Marshal = %s, want %s", b, tt.wantJSON)
			}
			var back d.Duration
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("Unmarshal(%s) error: %v", b, err)
			}
			if back != got {
				t.Errorf("round trip = %v, want %v", back, got)
			}
		})
	}
}

func TestDurationJSONInStruct(t *testing.T) {
	in := d.PortRule{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: d.Duration(3 * time.Hour)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"max_duration":"3h"`) {
		t.Errorf("Marshal(%+v) = %s, want max_duration \"3h\"", in, b)
	}
	var out d.PortRule
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.MaxDuration != in.MaxDuration {
		t.Errorf("round trip MaxDuration = %v, want %v", out.MaxDuration, in.MaxDuration)
	}
}

func TestDurationUnmarshalJSONRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"integer", `3600`},
		{"float", `1.5`},
		{"boolean", `true`},
		{"object", `{}`},
		{"empty string", `""`},
		{"bad string", `"soon"`},
		{"negative", `"-1h"`},
		{"too long", `"P400D"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got d.Duration
			if err := json.Unmarshal([]byte(tt.in), &got); err == nil {
				t.Errorf("Unmarshal(%s) = %v, want an error", tt.in, got)
			}
		})
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"PT3H", "P1D", "P1DT2H30M", "PT1.5S", "PT90M", "pt1h", "P366D",
		"3h", "1h30m", "1h0m30s", "1.5s", "250ms", "1ns", "0s", "-1h", "+3h",
		"", "P", "PT", "P1DT", "P1H", "PT1M2H", "PT1.5M2S", "P1Y", "P1W",
		"PT9999999999999S", "9999999999h", "PT0.0000001S",
	} {
		f.Add(s)
	}
	const maxDur = 366 * 24 * time.Hour
	f.Fuzz(func(t *testing.T, s string) {
		got, err := d.ParseDuration(s)
		if err != nil {
			return
		}
		if got < 0 || got.Std() > maxDur {
			t.Fatalf("ParseDuration(%q) = %v, outside [0, %v]", s, got.Std(), maxDur)
		}
		// Whatever was accepted, its String form (Go style) reads back the same.
		again, err := d.ParseDuration(got.String())
		if err != nil {
			t.Fatalf("ParseDuration(%q) = %v, but its String %q does not parse: %v", s, got.Std(), got.String(), err)
		}
		if again != got {
			t.Fatalf("ParseDuration(%q) = %v; String %q parses to %v", s, got.Std(), got.String(), again.Std())
		}
		if goStyle, err := time.ParseDuration(strings.TrimSpace(s)); err == nil && goStyle != got.Std() {
			t.Fatalf("ParseDuration(%q) = %v, time.ParseDuration = %v", s, got.Std(), goStyle)
		}
	})
}
