//go:build linux

package firewall

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Counters reads the packet and byte counters of every allow element now in
// the kernel (elements that expired are gone, with their counts). It dumps
// the allow sets, so its cost grows with the number of elements; call it
// every few seconds, not per packet. An element found without a counter
// (a set recreated by someone else) makes the next Apply rebuild the table.
// Without the table (before the first Apply) it returns none. Safe for
// concurrent use.
func (f *Firewall) Counters() ([]Counter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := newObjects()
	var out []Counter
	for _, set := range []struct {
		s       *nftables.Set
		addrLen int
	}{{o.allow4, 4}, {o.allow6, 16}} {
		els, err := f.conn.GetSetElements(set.s)
		if errors.Is(err, unix.ENOENT) {
			return nil, nil // no table yet (a fresh host): nothing counted
		}
		if err != nil {
			return nil, fmt.Errorf("firewall: counters: list set %s: %w", set.s.Name, err)
		}
		for _, e := range els {
			if e.IntervalEnd {
				continue // not produced by pipapo; never ours
			}
			c, ok := decodeCounterKey(e.Key, e.KeyEnd, set.addrLen)
			if !ok {
				continue
			}
			if e.Counter == nil {
				f.forget()
				f.countersMissing = true
				continue
			}
			c.Packets, c.Bytes = e.Counter.Packets, e.Counter.Bytes
			out = append(out, c)
		}
	}
	return out, nil
}

// decodeCounterKey decodes the range of an allow element: addr . proto .
// port for its first and last address.
func decodeCounterKey(key, keyEnd []byte, addrLen int) (Counter, bool) {
	n := addrLen + 8
	if len(key) != n || len(keyEnd) != n {
		return Counter{}, false
	}
	from, ok1 := netip.AddrFromSlice(key[:addrLen])
	to, ok2 := netip.AddrFromSlice(keyEnd[:addrLen])
	if !ok1 || !ok2 {
		return Counter{}, false
	}
	pp := key[addrLen:]
	return Counter{From: from, To: to, Protocol: Protocol(pp[0]), Port: uint16(pp[4])<<8 | uint16(pp[5])}, true
}
