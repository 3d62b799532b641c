package web_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	d "github.com/drawbridge/drawbridge"
)

// A client that sends its whole body before it reads the answer (as curl
// and most HTTP libraries do) and sends far more than the limit still reads
// the 413: the server reads and discards the rest instead of resetting the
// connection under the client's feet.
func TestTooLargeIsReadable(t *testing.T) {
	e := newEnv(t)
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"justification":"` + strings.Repeat("x", 16<<20) + `"}`
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: e.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /api/v1/requests HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", u.Host, e.admin, len(body))
	if _, err := io.WriteString(conn, head+body); err != nil {
		t.Fatalf("sending the body: %v (the server reset the connection)", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the 413 body: %v", err)
	}
	wantError(t, response{status: resp.StatusCode, header: resp.Header, body: b}, http.StatusRequestEntityTooLarge, d.TooLarge, "")
	if !resp.Close {
		t.Errorf("the 413 does not close the connection (Connection: %q)", resp.Header.Get("Connection"))
	}
}
