package drawbridge

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Duration is a time.Duration that reads ISO 8601 ("PT3H", "P1DT2H30M",
// "PT90S") and Go style ("3h", "1h30m", "90s"), and writes Go style ("3h",
// "1h30m", "1m30s").
type Duration time.Duration

// maxDuration bounds parsed durations well below time.Duration's range, so
// arithmetic on them never overflows. No Drawbridge duration needs more.
const maxDuration = 366 * 24 * time.Hour

var (
	goDurationRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(` + durationNumber + `(ns|us|µs|μs|ms|s|m|h))+$`)
	})
	isoNumberRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^` + durationNumber + `$`) })
)

// durationNumber is how a number in a duration is written: digits, and an
// optional fraction with at least one digit on each side of the point.
const durationNumber = `[0-9]+(\.[0-9]+)?`

// ParseDuration parses an ISO 8601 duration (days, hours, minutes, seconds;
// fractional seconds allowed) or a Go duration. Negative values, years,
// months and weeks are rejected: they are ambiguous or meaningless here.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var d time.Duration
	var err error
	if s[0] == 'P' || s[0] == 'p' {
		d, err = parseISO8601(strings.ToUpper(s))
	} else {
		// time.ParseDuration alone is too lenient: it takes "+1h", "1.h",
		// ".5h" and a bare "0".
		if !goDurationRE().MatchString(s) {
			return 0, fmt.Errorf("invalid duration %s: want Go style (3h, 90m) or ISO 8601 (PT3H)", Excerpt(s))
		}
		d, err = time.ParseDuration(s)
		if err != nil {
			err = fmt.Errorf("invalid duration %s: want Go style (3h, 90m) or ISO 8601 (PT3H)", Excerpt(s))
		}
	}
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %s is negative", Excerpt(s))
	}
	if d > maxDuration {
		return 0, fmt.Errorf("duration %s is too long", Excerpt(s))
	}
	return Duration(d), nil
}

func parseISO8601(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid ISO 8601 duration %s: want P[nD][T[nH][nM][nS]]", Excerpt(s))
	rest := s[1:]
	if rest == "" {
		return 0, bad
	}
	var total float64 // seconds
	inTime := false
	last := -1          // index in units of the last component read; components come in order, once each
	fractional := false // only the last component may have a fraction
	units := []struct {
		time bool
		unit byte
		secs float64
	}{{false, 'D', 86400}, {true, 'H', 3600}, {true, 'M', 60}, {true, 'S', 1}}
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return 0, bad
			}
			inTime = true
			rest = rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) || i > 12 || fractional {
			return 0, bad
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || !isoNumberRE().MatchString(rest[:i]) {
			return 0, bad
		}
		fractional = strings.Contains(rest[:i], ".")
		u := -1
		for k, x := range units {
			if x.time == inTime && x.unit == rest[i] {
				u = k
			}
		}
		if u <= last {
			return 0, bad
		}
		last = u
		rest = rest[i+1:]
		total += n * units[u].secs
		if total > maxDuration.Seconds() {
			return 0, fmt.Errorf("duration %s is too long", Excerpt(s))
		}
	}
	if last < 0 {
		return 0, bad
	}
	return time.Duration(total * float64(time.Second)).Round(time.Millisecond), nil
}

// String formats d in Go style without zero units: "3h", "1h30m", "1m30s", "1.5s".
func (d Duration) String() string {
	td := time.Duration(d)
	if td == 0 {
		return "0s"
	}
	if td%time.Second != 0 || td < time.Second {
		return td.String() // sub-second precision: Go's own form
	}
	var b strings.Builder
	h, m, sec := td/time.Hour, (td%time.Hour)/time.Minute, (td%time.Minute)/time.Second
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MarshalJSON writes the Go style string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads either style; numbers are rejected as ambiguous.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"3h\" or \"PT3H\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
