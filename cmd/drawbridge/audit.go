package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/drawbridge/drawbridge/internal/audit"
	"github.com/drawbridge/drawbridge/internal/pki"
)

func newAuditCmd(e *env) *cobra.Command {
	var q client.EventQuery
	var request string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit log: who opened what, from where, when, why",
		Long: `Read the audit log, oldest first, streamed from the server as it is read
(any number of events in constant memory). Needs the audit/read action
(roles admin and auditor).

Output: table (default), json (one JSON array), jsonl (one event per line,
JSON Lines, with the hashes: the form 'audit verify --file' checks), or csv (UTF-8 with BOM,
a header row, RFC 4180 quoting; a cell that starts with = + - @ TAB or CR
gets a leading apostrophe so that spreadsheets do not run it as a formula,
and one that starts with an apostrophe gets another, so that the file reads
back exactly and 'audit verify --file' checks it too).

--since and --until take an RFC 3339 time or a duration before now (24h, P7D).
--machine matches events on the machine, by its agent, or about a request
that touched it. --user matches the actor's subject (token:tok_…) or name.`,
		Example: `  drawbridge audit --since 24h
  drawbridge audit --machine web-1 --since P7D
  drawbridge audit --user alice --action request.created -o json
  drawbridge audit --since 720h -o csv > activity.csv
  drawbridge audit -o jsonl > export.jsonl && drawbridge audit verify --file export.jsonl
  drawbridge audit verify
  drawbridge audit head -o json > head.json`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(e, cmd)
	cf.extraOutputs = []string{"csv", "jsonl"}
	cf.streaming = true
	cmd.Flags().Lookup("output").Usage = "output format: table, json (one array), jsonl (JSON Lines, streaming) or csv"
	fl := cmd.Flags()
	fl.StringVar(&q.Machine, "machine", "", "only events about this machine (name or ID)")
	fl.StringVar(&q.User, "user", "", "only events by this user (actor name or subject)")
	fl.StringVar(&q.Action, "action", "", "only events with this action, such as request.created")
	fl.StringVar(&request, "request", "", "only events about this request ID")
	fl.StringVar(&q.Since, "since", "", "only events at or after: RFC 3339 time or a duration before now (24h)")
	fl.StringVar(&q.Until, "until", "", "only events before: RFC 3339 time or a duration before now")
	fl.IntVar(&q.Limit, "limit", 0, "at most this many events (default all)")
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, _ []string, c *client.Client) error {
		q.Request = d.RequestID(request)
		format := cf.output
		if format == "json" || format == "table" {
			format = "jsonl" // read as a stream, printed as a table or one array
		}
		body, err := c.EventsExport(cmd.Context(), q, format)
		if err != nil {
			return err
		}
		defer body.Close()
		switch cf.output {
		case "table":
			return printEventTable(e.stdout, body)
		case "json":
			return printEventArray(e.stdout, body)
		case "jsonl":
			return copyJSONL(e.stdout, body)
		}
		if _, err := io.Copy(e.stdout, body); err != nil {
			return fmt.Errorf("export cut short: %w", err)
		}
		return nil
	})
	cmd.AddCommand(newAuditVerifyCmd(e), newAuditHeadCmd(e))
	return cmd
}

// printEventTable prints a JSON Lines stream as a table, flushing every few
// hundred rows so memory stays flat (column widths may change per block).
func printEventTable(w io.Writer, r io.Reader) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "ID\tTIME\tACTOR\tSOURCE\tACTION\tTARGET\tRESULT\tREASON"
	fmt.Fprintln(tw, header)
	n := 0
	err := audit.ReadJSONL(r, func(ev *d.Event) error {
		escapeStrings(ev)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.ID, ts8601(ev.Time), orDash(ev.ActorName), orDash(ev.ActorSource), ev.Action, ev.Target, ev.Result, oneLine(ev.Reason))
		if n++; n%500 == 0 {
			return tw.Flush()
		}
		return nil
	})
	if ferr := tw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("export cut short: %w", err)
	}
	return nil
}

// printEventArray prints a JSON Lines stream as one JSON array, an event at
// a time, so memory stays flat.
func printEventArray(w io.Writer, r io.Reader) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	n := 0
	err := audit.ReadJSONL(r, func(ev *d.Event) error {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		sep := ",\n  "
		if n++; n == 1 {
			sep = "\n  "
		}
		_, err = io.WriteString(w, sep+string(escapeJSON(b)))
		return err
	})
	if err != nil {
		return fmt.Errorf("export cut short: %w", err)
	}
	end := "]\n"
	if n > 0 {
		end = "\n]\n"
	}
	_, err = io.WriteString(w, end)
	return err
}

// copyJSONL copies a JSON Lines stream line by line, escaping what a
// terminal could act on (see escapeJSON; each line stays the same JSON, so
// 'audit verify --file' still checks it).
func copyJSONL(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if _, werr := w.Write(escapeJSON(line)); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("export cut short: %w", err)
		}
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > 60 {
		s = string([]rune(s)[:59]) + "…"
	}
	return orDash(s)
}

func newAuditVerifyCmd(e *env) *cobra.Command {
	var file, headFile string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Prove the audit log was not altered: walk its hash chain",
		Long: `Walk the audit log's hash chain and report the first altered, deleted or
reordered event. Exits with status 1 when the chain does not verify.

Without --file the server walks its database (from the prune anchor, if the
log was pruned). With --file, an export made with 'audit -o jsonl' or
'audit -o csv' (or an archive written before pruning) is checked here,
offline, with no server.

--head names a head saved earlier with 'audit head -o json': its signature is
checked against --cacert (the server's ca.pem), then the chain must still
contain that event with that hash. This is what catches an attacker with
write access to the database who rewrote the whole chain after the head was
exported (see docs/audit.md).`,
		Example: `  drawbridge audit verify
  drawbridge audit verify --head head-2025-03-01.json --cacert ca.pem
  drawbridge audit verify --file export.jsonl
  drawbridge audit verify --file /var/lib/drawbridge/archive/events-1-90000.jsonl --head head.json --cacert ca.pem`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(e, cmd)
	cf.streaming = true
	cmd.Flags().StringVar(&file, "file", "", "verify this JSON Lines or CSV export offline instead of asking the server")
	cmd.Flags().StringVar(&headFile, "head", "", "a signed head (JSON from 'audit head -o json') the chain must still contain")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var head *d.AuditHead
		if headFile != "" {
			h, err := readHead(headFile, cf.cacert)
			if err != nil {
				return err
			}
			head = h
		}
		var rep *d.AuditReport
		if file != "" {
			r, err := verifyFile(file, head)
			if err != nil {
				return err
			}
			rep = r
		} else {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if rep, err = c.AuditVerify(cmd.Context(), head); err != nil {
				return err
			}
		}
		if cf.json() {
			if err := printJSON(e.stdout, rep); err != nil {
				return err
			}
		} else {
			printReport(e.stdout, rep, head)
		}
		if !rep.OK {
			return errors.New("the audit chain does not verify")
		}
		return nil
	}
	return cmd
}

func readHead(path, cacert string) (*d.AuditHead, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--head: %w", err)
	}
	var h d.AuditHead
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("--head %s: not a head: %w", path, err)
	}
	if cacert == "" {
		return nil, errors.New("--head needs --cacert (or DRAWBRIDGE_CACERT): the CA certificate that checks the head's signature")
	}
	ca, err := pki.LoadCACertFile(cacert)
	if err != nil {
		return nil, err
	}
	if err := audit.VerifyHead(h, func(dg, sig []byte) error { return pki.VerifyDigest(ca, dg, sig) }); err != nil {
		return nil, fmt.Errorf("--head %s: %w", path, err)
	}
	return &h, nil
}

func verifyFile(path string, head *d.AuditHead) (*d.AuditReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	defer f.Close()
	v := audit.NewVerifier(nil)
	v.Unanchored()
	if head != nil {
		v.Expect(head.ID, head.Hash)
	}
	errStop := errors.New("stop")
	br := bufio.NewReaderSize(f, 1<<20)
	read := audit.ReadJSONL
	if b, _ := br.Peek(len(audit.BOM)); string(b) == audit.BOM {
		read = audit.ReadCSV // 'audit -o csv' starts with a BOM
	}
	err = read(br, func(ev *d.Event) error {
		if !v.Add(ev) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("--file %s: %w", path, err)
	}
	rep := v.Finish(0, "")
	return &rep, nil
}

func printReport(w io.Writer, r *d.AuditReport, head *d.AuditHead) {
	escapeStrings(r)
	if r.OK {
		fmt.Fprintf(w, "OK: %d events verified", r.Checked)
		if r.Checked > 0 {
			fmt.Fprintf(w, " (%d to %d)", r.First, r.Last)
		}
		fmt.Fprintln(w)
		if r.Hash != "" {
			fmt.Fprintf(w, "head: event %d hash %s\n", r.Last, r.Hash)
		}
	} else {
		fmt.Fprintf(w, "FAILED at event %d (%s): %s\n", r.Problem.ID, r.Problem.Kind, r.Problem.Message)
		fmt.Fprintf(w, "%d events verified before it\n", r.Checked)
	}
	if r.Anchor != nil {
		fmt.Fprintf(w, "anchor: pruned up to event %d (hash %s) at %s; archive %s\n", r.Anchor.ID, r.Anchor.Hash, ts8601(r.Anchor.PrunedAt), orDash(r.Anchor.Archive))
	}
	if head != nil && r.OK {
		fmt.Fprintf(w, "signed head: event %d of %s is in the chain with the same hash\n", head.ID, ts8601(head.Time))
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
}

func newAuditHeadCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "head",
		Short: "Print the audit chain's head, signed by the server's CA",
		Long: `Print the newest event ID and hash of the audit chain, signed with the
server's CA key. Keep it somewhere the server cannot write (a SIEM, a ticket,
a signed commit): 'audit verify --head FILE' later proves that the chain up
to that event was not rewritten. With --cacert the signature is checked here.`,
		Example: `  drawbridge audit head
  drawbridge audit head -o json > head-$(date +%F).json`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(e, cmd)
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, _ []string, c *client.Client) error {
		h, err := c.AuditHead(cmd.Context())
		if err != nil {
			return err
		}
		sig := "not checked (no --cacert)"
		if cf.cacert != "" {
			ca, err := pki.LoadCACertFile(cf.cacert)
			if err != nil {
				return err
			}
			if err := audit.VerifyHead(*h, func(dg, s []byte) error { return pki.VerifyDigest(ca, dg, s) }); err != nil {
				return err
			}
			sig = "valid (" + cf.cacert + ")"
		}
		if cf.json() {
			return printJSON(e.stdout, h)
		}
		escapeStrings(h)
		fmt.Fprintf(e.stdout, "event      %d\nhash       %s\ntime       %s\nsignature  %s\nca pin     %s\n", h.ID, h.Hash, ts8601(h.Time), sig, orDash(h.CAPin))
		return nil
	})
	return cmd
}
