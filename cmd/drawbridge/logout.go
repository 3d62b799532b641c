package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	d "github.com/drawbridge/drawbridge"
	"github.com/spf13/cobra"
)

func newLogoutCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "End the saved sign-in session and remove its token",
		Long: `End the session saved by "drawbridge login": revoke it on the server and
remove the saved token. API tokens are not affected.`,
		Example: `  drawbridge logout`,
		Args:    cobra.NoArgs,
	}
	cf := addClientFlags(e, cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		path, err := savedTokenPath(cf.tokenFile)
		if err != nil {
			return err
		}
		tok, err := readSavedToken(cf.tokenFile)
		if err != nil {
			return err
		}
		if tok == "" {
			return printOutcome(e, cf, map[string]any{"signed_out": false, "token_file": path}, "not signed in (no session saved at "+path+")")
		}
		cf.token = tok // the saved session, not DRAWBRIDGE_TOKEN
		var revokeErr error
		if c, err := cf.client(); err != nil {
			revokeErr = err
		} else {
			revokeErr = c.Logout(cmd.Context())
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove saved session: %w", err)
		}
		out := map[string]any{"signed_out": true, "token_file": path}
		switch {
		case revokeErr == nil:
			return printOutcome(e, cf, out, "signed out; removed "+path)
		case d.ErrorKind(revokeErr) == d.Unauthenticated:
			return printOutcome(e, cf, out, "the session had already ended; removed "+path)
		}
		if err := printOutcome(e, cf, out, "removed "+path); err != nil {
			return err
		}
		return fmt.Errorf("the server did not revoke the session (it ends at its expiry): %s", describe(revokeErr))
	}
	return cmd
}
