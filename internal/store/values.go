package store

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// How values are stored; see the package comment and the migrations.

// micros stores a time as unix microseconds UTC, the zero time as 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros reads a time stored by micros, in UTC.
func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// prefixText stores a prefix in netip form, the zero prefix as "".
func prefixText(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	return netip.ParsePrefix(s)
}

// labelsJSON stores labels as a JSON object, none as "{}".
func labelsJSON(l map[string]string) (string, error) {
	if len(l) == 0 {
		return "{}", nil
	}
	return toJSON(l)
}

// parseLabels reads labels stored by labelsJSON; none reads as nil.
func parseLabels(s string) (map[string]string, error) {
	var l map[string]string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
