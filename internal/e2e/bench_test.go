package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
)

// BenchmarkRequestToKernel measures, with a real agent in a namespace, the
// time from an access request to the agent's confirmation that the rule is
// in the kernel (as the server records it), and the client's round trip for
// `request --wait`. Each iteration grants a distinct source, so the kernel
// set grows by one element per iteration.
func BenchmarkRequestToKernel(b *testing.B) {
	w := newWorld(b)
	w.startServer()
	w.enroll()
	w.protect()
	c := w.api(w.c1, w.adminToken)
	var applied, rtt []time.Duration
	i := 0
	for b.Loop() {
		i++
		src := fmt.Sprintf("198.19.%d.%d", i/250, i%250+1)
		start := time.Now()
		r, err := c.RequestCreate(b.Context(), d.RequestInput{
			Targets: []d.MachineTargets{{Machine: "web", Ports: []d.PortTarget{{Port: w.port}}}}, Source: src, Duration: "30m"}, 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		rtt = append(rtt, time.Since(start))
		if r.Status != d.StatusActive {
			b.Fatalf("request %d not active: %s", i, r.Status)
		}
		applied = append(applied, r.Targets[0].ApplyLatency.Std())
	}
	b.ReportMetric(pct(applied, 50), "applied-p50-ms")
	b.ReportMetric(pct(applied, 99), "applied-p99-ms")
	b.ReportMetric(pct(rtt, 50), "wait-rtt-p50-ms")
	b.ReportMetric(pct(rtt, 99), "wait-rtt-p99-ms")
}

func pct(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, len(s)*p/100)
	return float64(s[i].Microseconds()) / 1000
}
