package netlab_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drawbridge/drawbridge/internal/netlab"
)

func TestHostsConnect(t *testing.T) {
	var names []string
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t)
		server := lab.Host("server")
		client := lab.Host("client")
		names = append(names, server.NS, client.NS)
		if got, want := server.IPv4.String(), "198.18.0.1"; got != want {
			t.Errorf("server IPv4 = %s, want %s", got, want)
		}
		if got, want := client.IPv6.String(), "2001:2::2"; got != want {
			t.Errorf("client IPv6 = %s, want %s", got, want)
		}
		for _, tc := range []struct {
			name, network, listen string
			target                string
		}{
			{"ipv4", "tcp4", "0.0.0.0:0", server.IPv4.String()},
			{"ipv6", "tcp6", "[::]:0", server.IPv6.String()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ln := server.Listen(t, tc.network, tc.listen)
				go func() {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					defer c.Close()
					_, _ = io.Copy(c, c)
				}()
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				_, port, _ := net.SplitHostPort(ln.Addr().String())
				c, err := client.Dial(ctx, tc.network, net.JoinHostPort(tc.target, port))
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer c.Close()
				if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap(); got != client.IPv4 && got != client.IPv6 {
					t.Errorf("local address %s is not the client's", got)
				}
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 4)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
					t.Fatalf("echo = %q, %v", buf, err)
				}
			})
		}
		// The caller's namespace cannot reach the lab: no link leaves it.
		out, err := client.Run(t.Context(), "ip", "route", "show", "default")
		if err != nil || out != "" {
			t.Errorf("default route in host namespace: %q, %v", out, err)
		}
	})
	for _, n := range names {
		if _, err := os.Stat(filepath.Join("/run/netns", n)); !os.IsNotExist(err) {
			t.Errorf("namespace %s still exists after cleanup (stat: %v)", n, err)
		}
	}
}
