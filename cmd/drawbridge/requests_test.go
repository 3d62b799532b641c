package main

import (
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// TestUsageUnknown: a grant that was open but whose agent never reported
// its counters is not shown as unused.
func TestUsageUnknown(t *testing.T) {
	opened := d.Target{AppliedAt: time.Now()}
	if got, want := usageLine(opened), "used: unknown (the agent did not report counters)"; got != want {
		t.Errorf("usageLine = %q, want %q", got, want)
	}
	if got := usedColumn(opened); got != "unknown" {
		t.Errorf("usedColumn = %q, want unknown", got)
	}
	reported := d.Target{AppliedAt: time.Now(), Usage: &d.Usage{}}
	if got := usageLine(reported); got != "used: no" {
		t.Errorf("usageLine with a zero report = %q, want used: no", got)
	}
	if got := usedColumn(reported); got != "no" {
		t.Errorf("usedColumn with a zero report = %q, want no", got)
	}
	if got := usedColumn(d.Target{}); got != "-" {
		t.Errorf("usedColumn of a grant never open = %q, want -", got)
	}
}
