package main

import (
	"bytes"
	"testing"

	d "github.com/drawbridge/drawbridge"
)

func TestPrintMachineWarnings(t *testing.T) {
	var b bytes.Buffer
	printMachineWarnings(&b, []d.MachineView{
		{Machine: d.Machine{Name: "web-1"}},
		{Machine: d.Machine{Name: "web-2"}, ClockWarning: "the agent's clock is 7s behind the server's"},
	})
	if got, want := b.String(), "warning: web-2: the agent's clock is 7s behind the server's\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}
