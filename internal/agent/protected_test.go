package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/firewall"
)

// fileAtApply is an Enforcer that records, at each Apply, what the
// protected-ports file held then.
type fileAtApply struct {
	path      string
	installed bool
	seen      []string
}

func (f *fileAtApply) Apply(firewall.State) (firewall.Stats, error) {
	b, _ := os.ReadFile(f.path)
	f.seen = append(f.seen, string(b))
	return firewall.Stats{}, nil
}
func (f *fileAtApply) Terminate(netip.Prefix, firewall.Protocol, uint16) (int, error) { return 0, nil }
func (f *fileAtApply) Installed() (bool, error)                                       { return f.installed, nil }
func (f *fileAtApply) Counters() ([]firewall.Counter, error)                          { return nil, nil }

// TestProtectedPortsWrittenOnlyWhenChanged: the file is rewritten (a new
// file renamed into place) only when the protected ports change, and then
// before the firewall applies them, so a reboot never finds it behind the
// kernel. An agent that restarts with the same ports does not rewrite it.
func TestProtectedPortsWrittenOnlyWhenChanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	fw := &fileAtApply{path: path, installed: true}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := New(Config{DataDir: dir}, log, fw, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no server: applyAndAck skips the ack

	ssh := []d.PortProto{{Port: 22, Protocol: d.TCP}}
	both := []d.PortProto{{Port: 22, Protocol: d.TCP}, {Port: 443, Protocol: d.TCP}}
	grant := d.GrantState{Targets: []d.TargetID{"tgt_1"}, Source: netip.MustParsePrefix("192.0.2.1/32"), Port: 22,
		Protocol: d.TCP, Remaining: d.Duration(time.Hour), NotAfter: time.Now().Add(time.Hour)}
	js := func(ps []d.PortProto) string {
		b, err := json.Marshal(ps)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	stat := func() os.FileInfo {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	apply := func(a *Agent, version int64, ps []d.PortProto, gs ...d.GrantState) {
		a.applyAndAck(ctx, &d.DesiredState{Version: version, Protected: ps, Grants: gs}, time.Now())
	}

	apply(a, 1, ssh)
	if got := fw.seen[0]; got != js(ssh) {
		t.Fatalf("first apply: file held %q when the firewall applied, want %q", got, js(ssh))
	}
	first := stat()

	// Compared after each apply: a rewrite creates the new file while the
	// old one exists, so its inode differs (two rewrites could reuse one).
	apply(a, 2, ssh, grant) // a grant added, ports unchanged
	if !os.SameFile(first, stat()) {
		t.Error("the file was rewritten though the protected ports did not change (grant added)")
	}
	apply(a, 3, ssh) // and removed
	if !os.SameFile(first, stat()) {
		t.Error("the file was rewritten though the protected ports did not change (grant removed)")
	}

	apply(a, 4, both)
	if got := fw.seen[3]; got != js(both) {
		t.Fatalf("changed ports: file held %q when the firewall applied, want %q", got, js(both))
	}
	changed := stat()
	if os.SameFile(first, changed) {
		t.Error("the file was not rewritten when the protected ports changed")
	}

	// A restart finds the file: the same ports do not rewrite it, others do.
	fw2 := &fileAtApply{path: path, installed: true}
	b := New(Config{DataDir: dir}, log, fw2, nil)
	b.restoreProtected()
	apply(b, 5, both, grant)
	if !os.SameFile(changed, stat()) {
		t.Error("after a restart the file was rewritten with the ports it already held")
	}
	apply(b, 6, ssh)
	if got := fw2.seen[1]; got != js(ssh) {
		t.Fatalf("after a restart, changed ports: file held %q when the firewall applied, want %q", got, js(ssh))
	}
}
