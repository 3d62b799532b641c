//go:build linux

package firewall

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// Terminate deletes the conntrack entries of connections whose original
// source address is in src, with protocol proto and destination port port,
// so established connections are cut: their next packets are no longer
// "established" and meet the guard chain (a TCP peer gets a reset unless a
// grant still allows it). It returns how many entries it deleted. Safe for
// concurrent use.
func (f *Firewall) Terminate(src netip.Prefix, proto Protocol, port uint16) (int, error) {
	if !src.IsValid() {
		return 0, fmt.Errorf("firewall: terminate: invalid source prefix")
	}
	src = src.Masked()
	c, err := conntrack.Dial(&netlink.Config{NetNS: f.netns})
	if err != nil {
		return 0, fmt.Errorf("firewall: terminate: conntrack netlink: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return 0, fmt.Errorf("firewall: terminate: dump conntrack: %w", err)
	}
	n := 0
	for _, fl := range flows {
		t := fl.TupleOrig
		a := t.IP.SourceAddress
		if src.Addr().Is4() {
			a = a.Unmap()
		}
		if t.Proto.Protocol != uint8(proto) || t.Proto.DestinationPort != port || !src.Contains(a) {
			continue
		}
		if err := c.Delete(fl); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // ended meanwhile
			}
			return n, fmt.Errorf("firewall: terminate: delete flow: %w", err)
		}
		n++
	}
	return n, nil
}
