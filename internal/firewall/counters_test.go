//go:build linux

package firewall

import (
	"net/netip"
	"testing"
	"time"
)

func TestCounterCovers(t *testing.T) {
	c := Counter{From: netip.MustParseAddr("198.18.0.6"), To: netip.MustParseAddr("198.18.0.255"), Protocol: TCP, Port: 22}
	tests := []struct {
		name  string
		src   string
		proto Protocol
		port  uint16
		want  bool
	}{
		{"wider prefix", "198.18.0.0/24", TCP, 22, true},
		{"host inside", "198.18.0.7/32", TCP, 22, true},
		{"host before", "198.18.0.5/32", TCP, 22, false},
		{"host at start", "198.18.0.6/32", TCP, 22, true},
		{"other port", "198.18.0.0/24", TCP, 23, false},
		{"other protocol", "198.18.0.0/24", UDP, 22, false},
		{"other family", "2001:2::/64", TCP, 22, false},
		{"mapped", "::ffff:198.18.0.7/128", TCP, 22, true},
		{"unmasked", "198.18.0.200/16", TCP, 22, true},
		{"next block", "198.18.1.0/24", TCP, 22, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Covers(netip.MustParsePrefix(tt.src), tt.proto, tt.port); got != tt.want {
				t.Errorf("Covers(%s, %s, %d) = %v, want %v", tt.src, tt.proto, tt.port, got, tt.want)
			}
		})
	}
}

// TestCounters shows that the allow elements count every packet of a
// granted source, on new and on established connections, and that traffic
// of an established connection after the grant ended still flows but is no
// longer counted.
func TestCounters(t *testing.T) {
	hs := newHosts(t, "server", "client")
	server, client := hs[0], hs[1]
	port := echoServer(t, server)
	f := open(t, server)
	protected := []Port{{TCP, port}}
	src6 := netip.PrefixFrom(client.IPv6, 128)

	apply(t, f, State{Protected: protected, Allows: []Allow{
		{pfx(client.IPv4), TCP, port, 2 * time.Second},
		{src6, TCP, port, time.Hour},
	}})
	counter := func(src netip.Prefix) Counter {
		t.Helper()
		cs, err := f.Counters()
		if err != nil {
			t.Fatal(err)
		}
		var found []Counter
		for _, c := range cs {
			if c.Covers(src, TCP, port) {
				found = append(found, c)
			}
		}
		if len(found) > 1 {
			t.Fatalf("%d elements cover %s: %+v", len(found), src, found)
		}
		if len(found) == 0 {
			return Counter{}
		}
		return found[0]
	}
	if c := counter(pfx(client.IPv4)); c.Packets != 0 || c.Bytes != 0 {
		t.Fatalf("fresh element counts %d packets, %d bytes", c.Packets, c.Bytes)
	}
	if c := counter(src6); c.From != client.IPv6 || c.To != client.IPv6 {
		t.Fatalf("IPv6 element %+v, want %s", c, client.IPv6)
	}

	conn := mustConnect(t, client, server.IPv4, port) // SYN, ACK, one echo
	after1 := counter(pfx(client.IPv4))
	if after1.Packets < 3 || after1.Bytes < 3*40 {
		t.Fatalf("after one connection: %d packets, %d bytes; want at least 3 and 120", after1.Packets, after1.Bytes)
	}
	for range 5 {
		echo(t, conn) // established packets count too
	}
	after2 := counter(pfx(client.IPv4))
	if after2.Packets < after1.Packets+5 {
		t.Fatalf("established traffic not counted: %d packets, then %d", after1.Packets, after2.Packets)
	}
	if c := counter(src6); c.Packets != 0 {
		t.Errorf("IPv6 element counted %d packets of IPv4 traffic", c.Packets)
	}
	mustConnect(t, client, server.IPv6, port)
	if c := counter(src6); c.Packets < 3 {
		t.Errorf("IPv6 element counted %d packets, want at least 3", c.Packets)
	}

	// The IPv4 grant expires; its established connection still works.
	eventually(t, 5*time.Second, "grant expiry", func() bool { return counter(pfx(client.IPv4)).Packets == 0 })
	echo(t, conn)
	if c := counter(pfx(client.IPv4)); c.Packets != 0 {
		t.Errorf("traffic after expiry counted: %+v", c)
	}
}

// TestCountersReplaced shows that a replaced element (new timeout) counts
// from zero, which the agent must account for.
func TestCountersReplaced(t *testing.T) {
	hs := newHosts(t, "server", "client")
	server, client := hs[0], hs[1]
	port := echoServer(t, server)
	f := open(t, server)
	protected := []Port{{TCP, port}}
	apply(t, f, State{Protected: protected, Allows: []Allow{{pfx(client.IPv4), TCP, port, time.Minute}}})
	mustConnect(t, client, server.IPv4, port)
	read := func() uint64 {
		t.Helper()
		cs, err := f.Counters()
		if err != nil || len(cs) != 1 {
			t.Fatalf("counters %+v, %v; want one", cs, err)
		}
		return cs[0].Packets
	}
	if read() == 0 {
		t.Fatal("no packets counted")
	}
	if st := apply(t, f, State{Protected: protected, Allows: []Allow{{pfx(client.IPv4), TCP, port, time.Hour}}}); st.Replaced != 1 {
		t.Fatalf("extend: %+v, want one replacement", st)
	}
	if n := read(); n != 0 {
		t.Errorf("replaced element counts %d packets, want 0", n)
	}
}

// TestCountersWithoutTable: before the first Apply (a fresh host) there is
// nothing to count, and that is not an error.
func TestCountersWithoutTable(t *testing.T) {
	hs := newHosts(t, "server")
	f := open(t, hs[0])
	cs, err := f.Counters()
	if err != nil || len(cs) != 0 {
		t.Fatalf("Counters on a fresh host = %v, %v; want none, no error", cs, err)
	}
}
