package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"slices"
)

// osReleasePaths are read in order, as os-release(5) prescribes.
var osReleasePaths = []string{"/etc/os-release", "/usr/lib/os-release"}

// procNetFiles are the socket tables Collect reads.
var procNetFiles = []struct {
	path  string
	proto string
	v6    bool
}{
	{"/proc/net/tcp", "tcp", false},
	{"/proc/net/tcp6", "tcp", true},
	{"/proc/net/udp", "udp", false},
	{"/proc/net/udp6", "udp", true},
}

// Collect reads the inventory of the host it runs on, in the network
// namespace of the calling process. A missing os-release file leaves
// Distribution empty and a missing IPv6 socket table (IPv6 disabled) is
// skipped; other failures are returned. On systems other than Linux it
// returns an error wrapping errors.ErrUnsupported.
func Collect(ctx context.Context) (Inventory, error) {
	if runtime.GOOS != "linux" {
		return Inventory{}, fmt.Errorf("inventory: %w on %s", errors.ErrUnsupported, runtime.GOOS)
	}
	inv := Inventory{OS: runtime.GOOS}
	var err error
	if inv.Hostname, err = os.Hostname(); err != nil {
		return Inventory{}, fmt.Errorf("inventory: hostname: %w", err)
	}
	if inv.Kernel, err = kernelRelease(); err != nil {
		return Inventory{}, fmt.Errorf("inventory: kernel release: %w", err)
	}
	for _, p := range osReleasePaths {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Inventory{}, fmt.Errorf("inventory: %w", err)
		}
		vars := ParseOSRelease(bytes.NewReader(data))
		inv.Distribution = vars["PRETTY_NAME"]
		if inv.Distribution == "" {
			inv.Distribution = vars["NAME"]
		}
		break
	}
	if err := ctx.Err(); err != nil {
		return Inventory{}, err
	}

	ifaces, err := net.Interfaces()
	if err != nil {
		return Inventory{}, fmt.Errorf("inventory: interfaces: %w", err)
	}
	var addrs []net.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		a, err := ifc.Addrs()
		if err != nil {
			return Inventory{}, fmt.Errorf("inventory: addresses of %s: %w", ifc.Name, err)
		}
		addrs = append(addrs, a...)
	}
	inv.Addresses = globalPrefixes(addrs)

	for _, f := range procNetFiles {
		if err := ctx.Err(); err != nil {
			return Inventory{}, err
		}
		ls, err := readProcNet(f.path, f.proto, f.v6)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Inventory{}, err
		}
		inv.Listening = append(inv.Listening, ls...)
	}
	inv.Listening = sortListeners(inv.Listening)
	return inv, nil
}

func readProcNet(path, proto string, v6 bool) ([]Listener, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	ls, err := ParseProcNet(f, proto, v6)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return slices.Clip(ls), nil
}
