// Command drawbridge is Drawbridge's one binary: the server, the agent, and
// the client commands people use. Run `drawbridge --help` for the list.
//
// Each top-level verb has its own file named after it: `drawbridge extend`
// is in extend.go, `drawbridge join-token` in join_token.go, `drawbridge
// server` in server.go (and server_*.go). root.go builds the command tree;
// clientconf.go holds the client flags and clientRunE, which every verb that
// talks to the server uses; format.go holds the shared output helpers.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
