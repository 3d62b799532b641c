package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"text/tabwriter"
	"time"

	d "github.com/drawbridge/drawbridge"

	"github.com/spf13/cobra"

	"github.com/drawbridge/drawbridge/client"
	"github.com/drawbridge/drawbridge/internal/pki"
)

// clientFlags are the connection settings every client command takes.
type clientFlags struct {
	addr, token, cacert string
	output              string
	tokenFile           string                 // the session token saved by `drawbridge login` (login.go)
	noToken             bool                   // the command needs no credentials (login)
	extraOutputs        []string               // output formats beyond table and json (audit: csv, jsonl)
	streaming           bool                   // no overall timeout: the command reads a long stream (audit exports)
	cacheDir            func() (string, error) // where TLS sessions are kept across runs (tlssessions.go); nil: not kept
}

func addClientFlags(e *env, cmd *cobra.Command) *clientFlags {
	f := &clientFlags{cacheDir: e.cacheDir}
	cmd.Flags().StringVar(&f.addr, "addr", "", "server address, https://host:port (env DRAWBRIDGE_ADDR)")
	cmd.Flags().StringVar(&f.token, "token", "", "API token (env DRAWBRIDGE_TOKEN)")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "session token saved by \"drawbridge login\", used when --token is not set (default: the user config dir's drawbridge/token; env DRAWBRIDGE_TOKEN_FILE)")
	cmd.Flags().StringVar(&f.cacert, "cacert", "", "CA certificate file of the server, DATA_DIR/ca.pem (env DRAWBRIDGE_CACERT)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	return f
}

func (f *clientFlags) client() (*client.Client, error) {
	if f.output != "table" && f.output != "json" && !slices.Contains(f.extraOutputs, f.output) {
		return nil, fmt.Errorf("--output must be table or json, not %q", f.output)
	}
	if f.token == "" && !f.noToken {
		tok, err := readSavedToken(f.tokenFile)
		if err != nil {
			return nil, err
		}
		if tok == "" {
			return nil, fmt.Errorf("no API token: set --token or DRAWBRIDGE_TOKEN, or sign in with `drawbridge login` (the first admin token is in the server's DATA_DIR/admin.token)")
		}
		f.token = tok
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if sf := newSessionFile(f.cacheDir, f.addr); sf != nil {
		tc.ClientSessionCache = sf
	}
	if f.cacert != "" {
		pool, err := pki.LoadClientCAFile(f.cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		tc.RootCAs = pool
	}
	hc := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	if f.streaming {
		hc.Timeout = 0 // the command's context bounds it; an export may take long
	}
	return client.New(f.addr, f.token, hc)
}

func (f *clientFlags) json() bool { return f.output == "json" }

// printJSON prints v as one indented JSON document. encoding/json escapes
// C0 controls itself; DEL, C1 controls and bidi overrides, which it leaves
// raw, are written as \u escapes too (the same JSON value), so not even -o
// json puts a terminal control sequence from stored data on the screen.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(escapeJSON(b), '\n'))
	return err
}

// escapeJSON rewrites the DEL, C1, bidi and separator characters that
// encoding/json leaves raw in b (JSON text) as \u escapes: the same JSON.
func escapeJSON(b []byte) []byte {
	if !needsEscape(string(b)) {
		return b
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		if r >= 0x7f && unsafeRune(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.WriteRune(r)
		}
	}
	return out.Bytes()
}

// printOutcome prints what a command did when it returns no resource (a
// delete, a revoke): text, or with -o json the object v.
func printOutcome(e *env, cf *clientFlags, v any, text string) error {
	if cf.json() {
		return printJSON(e.stdout, v)
	}
	_, err := fmt.Fprintln(e.stdout, text)
	return err
}

// listRunE is the RunE of a command that fetches a list and prints it as
// JSON (-o json) or as a table: header, then one tab-separated row per item.
func listRunE[T any](e *env, cf *clientFlags, fetch func(*client.Client, context.Context) ([]T, error), header string, row func(T) string) func(*cobra.Command, []string) error {
	return clientRunE(cf, func(cmd *cobra.Command, _ []string, c *client.Client) error {
		items, err := fetch(c, cmd.Context())
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, items)
		}
		escapeStrings(&items)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		for _, it := range items {
			fmt.Fprintln(tw, row(it))
		}
		return tw.Flush()
	})
}

// requestVerb is the RunE of a command that acts on one request (its only
// argument) and prints the request as it is afterwards.
func requestVerb(e *env, cf *clientFlags, act func(context.Context, *client.Client, d.RequestID) (*d.Request, error)) func(*cobra.Command, []string) error {
	return clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		r, err := act(cmd.Context(), c, d.RequestID(args[0]))
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(e.stdout, r)
		}
		printRequest(e, r)
		if r.ExtendBy > 0 {
			fmt.Fprintf(e.stdout, "an extension by %s waits for approval\n", r.ExtendBy)
		}
		return nil
	})
}

// clientRunE is the RunE of a client command: it makes the client from the
// command's flags (cf) and runs fn with it. Every verb that talks to the
// server starts here.
func clientRunE(cf *clientFlags, fn func(cmd *cobra.Command, args []string, c *client.Client) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		return fn(cmd, args, c)
	}
}
