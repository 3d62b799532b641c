package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	d "github.com/drawbridge/drawbridge"
)

// loginTimeout bounds how long `drawbridge login` waits for the person.
const loginTimeout = 5 * time.Minute

func newLoginCmd(e *env) *cobra.Command {
	var noBrowser, device bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in with the server's identity provider (OIDC) and save a session token",
		Long: `Sign in with the identity provider the server trusts, and save a short-lived
Drawbridge session token for the other commands (they use it when --token
and DRAWBRIDGE_TOKEN are not set).

By default this runs the authorization code flow with PKCE and a loopback
redirect: it prints a URL (and opens it with xdg-open when available), and
the identity provider sends the browser back to this command. With
--device it runs the device flow instead, for machines without a browser:
open the printed URL anywhere and enter the code.

Your roles come from role bindings on your user (user:<name>) or your
groups (group:<name>); with none, the server refuses the sign-in.
The token is saved to the user config directory's drawbridge/token (mode
0600), or to --token-file.`,
		Example: `  drawbridge login --addr https://drawbridge.example.com:8443
  drawbridge login --no-browser          # just print the URL
  drawbridge login --device              # device code, for a remote shell
  drawbridge whoami                      # who you are, your groups and grants`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(e, cmd)
	cf.noToken = true
	_ = cmd.Flags().MarkHidden("token") // signing in needs no token
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "print the sign-in URL without trying to open a browser")
	cmd.Flags().BoolVar(&device, "device", false, "use the device flow (needs an issuer with a device_authorization_endpoint)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), loginTimeout)
		defer cancel()
		c, err := cf.client()
		if err != nil {
			return err
		}
		ac, err := c.AuthConfig(ctx)
		if err != nil {
			return err
		}
		if !ac.OIDC {
			return errors.New("this server has no OIDC sign-in configured (server flag --oidc-issuer); use an API token from an admin")
		}
		idp := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
		ctx = gooidc.ClientContext(ctx, idp) // discovery and keys
		ctx = context.WithValue(ctx, oauth2.HTTPClient, idp)
		p, err := gooidc.NewProvider(ctx, ac.Issuer)
		if err != nil {
			return fmt.Errorf("identity provider %s: %w", ac.Issuer, err)
		}
		oc := &oauth2.Config{ClientID: ac.ClientID, Endpoint: p.Endpoint(), Scopes: ac.Scopes}
		var raw string
		if device {
			raw, err = deviceLogin(ctx, e, oc)
		} else {
			raw, err = loopbackLogin(ctx, e, p, oc, !noBrowser)
		}
		if err != nil {
			return err
		}
		s, err := c.SessionCreate(ctx, raw)
		if err != nil {
			return err
		}
		path, err := saveToken(cf.tokenFile, s.Token)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, map[string]any{"user": s.User, "groups": s.Groups, "expires_at": s.ExpiresAt, "token_file": path})
		}
		escapeStrings(s)
		groups := ""
		if len(s.Groups) > 0 {
			groups = " (groups " + strings.Join(s.Groups, ", ") + ")"
		}
		fmt.Fprintf(e.stdout, "signed in as %s%s until %s\nsession token saved to %s\n", s.User, groups, ts8601(s.ExpiresAt), path)
		return nil
	}
	return cmd
}

// loopbackLogin runs the authorization code flow with PKCE, receiving the
// code on a loopback listener (RFC 8252), and returns the verified ID token.
func loopbackLogin(ctx context.Context, e *env, p *gooidc.Provider, oc *oauth2.Config, browse bool) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("loopback listener for the sign-in: %w", err)
	}
	oc.RedirectURL = "http://" + ln.Addr().String() + "/callback"
	state, nonce, verifier := d.RandomString(32), d.RandomString(32), oauth2.GenerateVerifier()

	type result struct{ code, err string }
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/callback" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			http.Error(w, "not the sign-in this command is waiting for", http.StatusBadRequest)
			return
		}
		res := result{code: q.Get("code"), err: q.Get("error")}
		msg := "Signed in. You can close this window and return to the terminal."
		if res.err != "" || res.code == "" {
			msg = "Sign-in failed: " + orDash(res.err) + ". See the terminal."
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Drawbridge</title><p>%s</p>\n", html.EscapeString(msg))
		select {
		case got <- res:
		default: // a second callback: the first one counts
		}
	})}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) }) // ends with Close below
	defer func() {
		_ = srv.Close()
		wg.Wait()
	}()

	u := oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce))
	fmt.Fprintf(e.stderr, "Open this URL in a browser to sign in:\n\n  %s\n\n", u)
	if browse && e.openBrowser != nil {
		if err := e.openBrowser(ctx, u); err != nil {
			fmt.Fprintf(e.stderr, "(could not open a browser: %v; open the URL yourself)\n", err)
		}
	}
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		return "", fmt.Errorf("no sign-in within %s: %w", loginTimeout, ctx.Err())
	}
	if res.err != "" {
		return "", fmt.Errorf("the identity provider refused the sign-in: %s", res.err)
	}
	if res.code == "" {
		return "", errors.New("the identity provider sent no authorization code")
	}
	tok, err := oc.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return "", fmt.Errorf("redeem the authorization code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", errors.New("the identity provider returned no ID token")
	}
	// The server checks the token again; here the nonce ties it to this sign-in.
	idt, err := p.Verifier(&gooidc.Config{ClientID: oc.ClientID}).Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("the ID token from the identity provider does not verify: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return "", errors.New("the ID token does not belong to this sign-in (nonce mismatch)")
	}
	return raw, nil
}

// deviceLogin runs the device authorization grant (RFC 8628) and returns
// the ID token.
func deviceLogin(ctx context.Context, e *env, oc *oauth2.Config) (string, error) {
	if oc.Endpoint.DeviceAuthURL == "" {
		return "", errors.New("the identity provider does not offer the device flow (no device_authorization_endpoint); run drawbridge login without --device")
	}
	da, err := oc.DeviceAuth(ctx)
	if err != nil {
		return "", fmt.Errorf("start the device flow: %w", err)
	}
	fmt.Fprintf(e.stderr, "To sign in, open\n\n  %s\n\nand enter the code %s\n", da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(e.stderr, "(or open %s)\n", da.VerificationURIComplete)
	}
	tok, err := oc.DeviceAccessToken(ctx, da)
	if err != nil {
		return "", fmt.Errorf("device sign-in: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", errors.New("the identity provider returned no ID token")
	}
	return raw, nil
}

// savedTokenPath is where `drawbridge login` keeps the session token.
func savedTokenPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no user config directory for the session token (%v); set --token-file", err)
	}
	return filepath.Join(dir, "drawbridge", "token"), nil
}

// readSavedToken returns the saved session token, or "" when there is none.
func readSavedToken(flag string) (string, error) {
	path, err := savedTokenPath(flag)
	if err != nil {
		return "", nil // nowhere to look: no saved token
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read saved session token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// saveToken writes the token (0600, directory 0700) atomically and returns the path.
func saveToken(flag, token string) (string, error) {
	path, err := savedTokenPath(flag)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("save session token: %w", err)
	}
	f, err := os.CreateTemp(dir, ".token-*") // mode 0600
	if err != nil {
		return "", fmt.Errorf("save session token: %w", err)
	}
	_, werr := f.WriteString(token + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("save session token: %w", werr)
	}
	return path, nil
}

// openBrowser opens url with xdg-open, when there is one. It does not wait
// for the browser.
func openBrowser(_ context.Context, url string) error {
	p, err := exec.LookPath("xdg-open")
	if err != nil {
		return errors.New("no xdg-open")
	}
	c := exec.Command(p, url)
	if err := c.Start(); err != nil {
		return err
	}
	return c.Process.Release()
}
