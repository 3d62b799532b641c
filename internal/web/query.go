package web

import (
	"strconv"
	"strings"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// timeParam reads an RFC 3339 time, or a duration meaning that long before now.
func timeParam(v, name string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if dur, err := d.ParseDuration(v); err == nil && dur > 0 {
		return now.Add(-dur.Std()), nil
	}
	return time.Time{}, d.FieldErrorf(name, "%s must be an RFC 3339 time (2025-03-01T12:00:00Z) or a duration before now (24h, P7D)", name)
}

// boolParam reads a query flag: absent, "true" or "false" (nothing else:
// strconv.ParseBool's "1", "t" and "TRUE" are refused, as is "maybe").
func boolParam(v, name string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, d.FieldErrorf(name, "%s must be true or false, not %s", name, d.Excerpt(v))
}

// intParam reads a decimal count from 0 to max: digits only, no sign.
func intParam(v, name string, max int) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max || strings.TrimLeft(v, "0123456789") != "" {
		return 0, d.FieldErrorf(name, "%s must be an integer from 0 to %d", name, max)
	}
	return n, nil
}
