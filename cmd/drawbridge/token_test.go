package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drawbridge/drawbridge/internal/oidc/oidctest"
)

// TestTokenCLI: token create refuses a zero TTL and an empty role naming
// the field, records the owner, lists it, and token revoke offers to end
// what the token left open (issue 7, item 8).
func TestTokenCLI(t *testing.T) {
	addr, dataDir := oidcServer(t, oidctest.New(t, "drawbridge-cli"))
	admin, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"DRAWBRIDGE_ADDR": addr, "DRAWBRIDGE_CACERT": filepath.Join(dataDir, "ca.pem"), "DRAWBRIDGE_TOKEN": strings.TrimSpace(string(admin))}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--ttl", "0s"}, "ttl"},
		{[]string{"--ttl", "1ns"}, "ttl"},
		{[]string{"--role", ""}, "role"},
	} {
		code, _, errOut := cli(t, vars, nil, append([]string{"token", "create", "--name", "x"}, tt.args...)...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("token create %v: exit %d, %q; want a failure naming %s", tt.args, code, errOut, tt.want)
		}
	}

	code, out, errOut := cli(t, vars, nil, "token", "create", "--name", "alice", "--owner", "alice@example.com", "-o", "json")
	if code != 0 || !strings.Contains(out, `"owner": "user:alice@example.com"`) {
		t.Fatalf("token create --owner: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = cli(t, vars, nil, "token", "list")
	if code != 0 || !strings.Contains(out, "OWNER") || !strings.Contains(out, "user:alice@example.com") {
		t.Errorf("token list shows no owner:\n%s", out)
	}
	id := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "alice@example.com") {
			id = strings.Fields(line)[0]
		}
	}
	code, out, errOut = cli(t, vars, nil, "token", "revoke", id, "--revoke-grants")
	if code != 0 || !strings.Contains(out, "revoked "+id) {
		t.Errorf("token revoke --revoke-grants: exit %d\n%s%s", code, out, errOut)
	}
}
