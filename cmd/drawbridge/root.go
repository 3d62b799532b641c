package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
}

// run builds the command tree, runs it and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return runEnv(ctx, &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, openBrowser: openBrowser, execve: execProcess}, args)
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
		fmt.Fprintln(stderr, "drawbridge: "+safe(describe(err)))
		return 1
	}
	return 0
}

// describe renders an error as one clear line.
func describe(err error) string {
	if e := d.AsError(err); e != nil {
		msg := e.Message
		if msg == "" {
			msg = string(e.Kind)
		}
		if e.Field != "" && !strings.Contains(msg, e.Field) {
			msg += " [field " + e.Field + "]"
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
	return root
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

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(e.stdout, "drawbridge", version)
			return nil
		},
	}
}
