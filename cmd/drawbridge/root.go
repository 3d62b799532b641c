package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	d "github.com/drawbridge/drawbridge"
)

// env is everything a command may read from its surroundings; tests pass
// their own, so the command tree has no globals.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	openBrowser    func(ctx context.Context, url string) error // login: show url to the user (xdg-open); tests fake it
	execve         func(argv []string) error                   // ssh/exec: replace this process with argv; tests fake it
	cacheDir       func() (string, error)                      // the user's cache directory (TLS sessions); nil: none
}

// run builds the command tree, runs it and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return runEnv(ctx, &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, openBrowser: openBrowser, execve: execProcess, cacheDir: os.UserCacheDir}, args)
}

// runEnv is run with every dependency given: tests call it with fakes.
func runEnv(ctx context.Context, e *env, args []string) int {
	stdin, stdout, stderr := e.stdin, e.stdout, e.stderr
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "drawbridge: "+describe(err))
		return 1
	}
	return 0
}

// describe renders an error as one clear line. A drawbridge.Error's text
// may come from the server, so it is shown through safe.
func describe(err error) string {
	if e := d.AsError(err); e != nil {
		msg := safe(e.Message)
		if msg == "" {
			msg = string(e.Kind)
		}
		if e.Field != "" && !strings.Contains(msg, safe(e.Field)) {
			msg += " [field " + safe(e.Field) + "]"
		}
		return msg
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	return err.Error()
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "drawbridge",
		Short: "Just-in-time access to management ports",
		Long: `Drawbridge keeps management ports (SSH, RDP, any admin port) closed and opens
them on request, for the requester's address only, for a bounded time. The
kernel closes them at the end time, even if Drawbridge itself is down.

Client commands find the server and credentials in --addr, --token and
--cacert, or in DRAWBRIDGE_ADDR, DRAWBRIDGE_TOKEN and DRAWBRIDGE_CACERT.
Without a token they use the session saved by "drawbridge login".`,
		Example: `  drawbridge server --data-dir ./data --listen 127.0.0.1:8443
  drawbridge join-token create
  drawbridge request web-1 --port 22 --duration 1h --wait
  drawbridge ssh web-1`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return flagsFromEnv(cmd, e.getenv)
	}
	root.AddCommand(
		newServerCmd(e),
		newAgentCmd(e),
		newJoinTokenCmd(e),
		newTokenCmd(e),
		newMachinesCmd(e),
		newPolicyCmd(e),
		newRequestCmd(e),
		newRequestsCmd(e),
		newRevokeCmd(e),
		newDoneCmd(e),
		newExtendCmd(e),
		newApprovalsCmd(e),
		newApproveCmd(e),
		newDenyCmd(e),
		newSSHCmd(e),
		newExecCmd(e),
		newLabelCmd(e),
		newBindingCmd(e),
		newRoleCmd(e),
		newWhoamiCmd(e),
		newAuditCmd(e),
		newWebhookCmd(e),
		newLoginCmd(e),
		newLogoutCmd(e),
		newVersionCmd(e),
	)
	refuseUnknown(root)
	return root
}

// refuseUnknown makes every command group (a command that only holds
// subcommands) fail on an unknown subcommand, with suggestions, as the root
// does; bare, it prints its help.
func refuseUnknown(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknown(c)
	}
	if cmd == cmd.Root() || !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return fmt.Errorf("%s (see %q)", msg, c.CommandPath()+" --help")
	}
}

// flagsFromEnv fills each flag not given on the command line from
// DRAWBRIDGE_<FLAG_NAME> (kebab-case to UPPER_SNAKE). The flag wins.
func flagsFromEnv(cmd *cobra.Command, getenv func(string) string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		key := "DRAWBRIDGE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(key); v != "" {
			if serr := cmd.Flags().Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", key, serr)
			}
		}
	})
	return err
}
