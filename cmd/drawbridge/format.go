package main

import (
	"fmt"
	"strings"
	"time"

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
