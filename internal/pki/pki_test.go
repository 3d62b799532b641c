package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testMachineID = "mch_abcdefghij0123456789"

func mustLoad(t *testing.T, dir string, hosts []string, now time.Time) *Authority {
	t.Helper()
	a, err := LoadOrCreate(dir, hosts, now)
	if err != nil {
		t.Fatalf("LoadOrCreate(%q, %q): %v", dir, hosts, err)
	}
	return a
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	a := mustLoad(t, dir, []string{"drawbridge.example.com", "192.0.2.10", "[2001:db8::1]"}, t0)

	t.Run("permissions", func(t *testing.T) {
		for name, want := range map[string]os.FileMode{
			".":           0o700 | os.ModeDir,
			CAFile:        0o644,
			CAKeyFile:     0o600,
			ServerFile:    0o644,
			ServerKeyFile: 0o600,
		} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode(); got != want {
				t.Errorf("%s: mode %v, want %v", name, got, want)
			}
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 4 {
			t.Errorf("directory has %d entries, want 4 (no temporary files left)", len(ents))
		}
	})

	t.Run("certificates", func(t *testing.T) {
		ca := a.CACert()
		if !ca.IsCA || ca.NotAfter != t0.AddDate(10, 0, 0) {
			t.Errorf("CA: IsCA=%v NotAfter=%v", ca.IsCA, ca.NotAfter)
		}
		srv := a.ServerCert()
		if err := srv.CheckSignatureFrom(ca); err != nil {
			t.Errorf("server certificate not signed by CA: %v", err)
		}
		if got, want := srv.NotAfter, t0.Add(ServerValidity); !got.Equal(want) {
			t.Errorf("server NotAfter = %v, want %v", got, want)
		}
		for _, h := range []string{"localhost", "127.0.0.1", "::1", "drawbridge.example.com", "192.0.2.10", "2001:db8::1"} {
			if err := srv.VerifyHostname(h); err != nil {
				t.Errorf("server certificate does not cover %s: %v", h, err)
			}
		}
		if slices.Contains(srv.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			t.Error("server certificate allows client auth")
		}
	})

	t.Run("reload keeps both", func(t *testing.T) {
		b := mustLoad(t, dir, []string{"drawbridge.example.com"}, t0.Add(24*time.Hour))
		if b.Pin() != a.Pin() {
			t.Error("CA changed on reload")
		}
		if b.ServerCert().SerialNumber.Cmp(a.ServerCert().SerialNumber) != 0 {
			t.Error("server certificate re-issued although it covers every host")
		}
	})

	t.Run("new host re-issues server only", func(t *testing.T) {
		b := mustLoad(t, dir, []string{"other.example.com"}, t0.Add(24*time.Hour))
		if b.Pin() != a.Pin() {
			t.Error("CA changed")
		}
		if b.ServerCert().SerialNumber.Cmp(a.ServerCert().SerialNumber) == 0 {
			t.Fatal("server certificate not re-issued for a new host")
		}
		if err := b.ServerCert().VerifyHostname("other.example.com"); err != nil {
			t.Error(err)
		}
		// Written to disk: a third start does not re-issue again.
		c := mustLoad(t, dir, []string{"other.example.com"}, t0.Add(48*time.Hour))
		if c.ServerCert().SerialNumber.Cmp(b.ServerCert().SerialNumber) != 0 {
			t.Error("re-issued certificate was not persisted")
		}
	})

	t.Run("near expiry re-issues", func(t *testing.T) {
		before := mustLoad(t, dir, []string{"other.example.com"}, t0.Add(48*time.Hour)).ServerCert()
		now := before.NotAfter.Add(-ServerRenewBefore)
		b := mustLoad(t, dir, []string{"other.example.com"}, now)
		if b.ServerCert().SerialNumber.Cmp(before.SerialNumber) == 0 {
			t.Fatal("server certificate not re-issued 30 days before expiry")
		}
		if got, want := b.ServerCert().NotAfter, now.Add(ServerValidity); !got.Equal(want) {
			t.Errorf("NotAfter = %v, want %v", got, want)
		}
		reissued, err := b.Renew([]string{"other.example.com"}, now.Add(time.Hour))
		if err != nil || reissued {
			t.Errorf("Renew right after re-issue = %v, %v; want false, nil", reissued, err)
		}
	})
}

func TestLoadOrCreateReplacesBrokenServerCert(t *testing.T) {
	dir := t.TempDir()
	a := mustLoad(t, dir, nil, t0)
	if err := os.WriteFile(filepath.Join(dir, ServerFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := mustLoad(t, dir, nil, t0)
	if b.Pin() != a.Pin() {
		t.Error("CA changed")
	}
	if err := b.ServerCert().CheckSignatureFrom(a.CACert()); err != nil {
		t.Error(err)
	}
}

func TestLoadOrCreateKeepsCAWithoutKey(t *testing.T) {
	dir := t.TempDir()
	mustLoad(t, dir, nil, t0)
	if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir, nil, t0); err == nil {
		t.Fatal("LoadOrCreate without ca-key.pem succeeded; it must not replace the CA")
	}
}

func TestLoadOrCreateRejectsBadHost(t *testing.T) {
	if _, err := LoadOrCreate(t.TempDir(), []string{"not a host"}, t0); err == nil {
		t.Fatal("no error for an invalid host")
	}
}

func TestPin(t *testing.T) {
	a := mustLoad(t, t.TempDir(), nil, t0)
	pin := a.Pin()
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(pin) {
		t.Fatalf("Pin() = %q", pin)
	}
	block, _ := pem.Decode(a.CAPEM())
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spki)
	if want := "sha256:" + hex.EncodeToString(sum[:]); pin != want {
		t.Errorf("Pin() = %s, want %s", pin, want)
	}

	if _, err := VerifyPinnedCA(a.CAPEM(), pin); err != nil {
		t.Errorf("VerifyPinnedCA(right pin): %v", err)
	}
	other := mustLoad(t, t.TempDir(), nil, t0)
	if _, err := VerifyPinnedCA(a.CAPEM(), other.Pin()); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("VerifyPinnedCA(wrong pin) = %v, want ErrPinMismatch", err)
	}
	if _, err := VerifyPinnedCA(a.CAPEM(), "sha256:abc"); err == nil {
		t.Error("VerifyPinnedCA(malformed pin) succeeded")
	}
}

// issueAgent returns a client certificate and key for machineID signed by a.
func issueAgent(t *testing.T, a *Authority, machineID string, now time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	keyPEM, csrPEM, err := NewKeyAndCSR("agent.example.com")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err = a.SignAgentCSR(csrPEM, machineID, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func TestSignAgentCSR(t *testing.T) {
	a := mustLoad(t, t.TempDir(), nil, t0)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The request asks for more than it may have; all of it is ignored.
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "mch_someoneelse0000000000000"},
		DNSNames: []string{"drawbridge.example.com"},
		URIs:     []*url.URL{MachineURI("mch_someoneelse0000000000000")},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})

	certPEM, notAfter, err := a.SignAgentCSR(csrPEM, testMachineID, 24*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:       poolOf(a.CACert()),
		CurrentTime: t0,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		t.Fatalf("agent certificate does not verify: %v", err)
	}
	if cert.Subject.CommonName != testMachineID {
		t.Errorf("CommonName = %q", cert.Subject.CommonName)
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != "drawbridge://machine/"+testMachineID {
		t.Errorf("URIs = %v", cert.URIs)
	}
	if len(cert.DNSNames) != 0 {
		t.Errorf("DNSNames copied from the request: %v", cert.DNSNames)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || cert.IsCA {
		t.Errorf("ExtKeyUsage = %v, IsCA = %v", cert.ExtKeyUsage, cert.IsCA)
	}
	if !cert.NotBefore.Equal(t0.Add(-time.Minute)) || !cert.NotAfter.Equal(t0.Add(24*time.Hour)) || !notAfter.Equal(cert.NotAfter) {
		t.Errorf("validity %v – %v (returned %v)", cert.NotBefore, cert.NotAfter, notAfter)
	}
	if !cert.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Error("certificate is not for the request's key")
	}
	if id, err := MachineIDFromCert(cert); err != nil || id != testMachineID {
		t.Errorf("MachineIDFromCert = %q, %v", id, err)
	}

	tampered := slices.Clone(der)
	tampered[len(tampered)-3] ^= 0xff // inside the signature
	tests := []struct {
		name string
		csr  []byte
	}{
		{"bad signature", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered})},
		{"not PEM", []byte("hello")},
		{"wrong PEM type", a.CAPEM()},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 1, 2, 3}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := a.SignAgentCSR(tt.csr, testMachineID, time.Hour, t0)
			if !errors.Is(err, ErrInvalidCSR) {
				t.Errorf("err = %v, want ErrInvalidCSR", err)
			}
		})
	}

	t.Run("bad machine ID", func(t *testing.T) {
		_, _, err := a.SignAgentCSR(csrPEM, "mch_short", time.Hour, t0)
		if !errors.Is(err, ErrInvalidMachineID) {
			t.Errorf("err = %v, want ErrInvalidMachineID", err)
		}
	})
	t.Run("capped at CA expiry", func(t *testing.T) {
		_, notAfter, err := a.SignAgentCSR(csrPEM, testMachineID, 20*365*24*time.Hour, t0)
		if err != nil || !notAfter.Equal(a.CACert().NotAfter) {
			t.Errorf("notAfter = %v, %v; want CA expiry %v", notAfter, err, a.CACert().NotAfter)
		}
	})
}

func TestMachineIDFromCert(t *testing.T) {
	u := func(s string) *url.URL {
		t.Helper()
		p, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		cert *x509.Certificate
		want string // "" means an error is expected
	}{
		{"valid", &x509.Certificate{URIs: []*url.URL{MachineURI(testMachineID)}}, testMachineID},
		{"valid 40", &x509.Certificate{URIs: []*url.URL{u("drawbridge://machine/mch_0123456789012345678901234567890123456789")}}, "mch_0123456789012345678901234567890123456789"},
		{"other URI ignored", &x509.Certificate{URIs: []*url.URL{u("spiffe://x/y"), MachineURI(testMachineID)}}, testMachineID},
		{"CN only", &x509.Certificate{Subject: pkix.Name{CommonName: testMachineID}}, ""},
		{"nil", nil, ""},
		{"two URIs", &x509.Certificate{URIs: []*url.URL{MachineURI(testMachineID), MachineURI("mch_zzzzzzzzzzzzzzzzzzzz")}}, ""},
		{"wrong host", &x509.Certificate{URIs: []*url.URL{u("drawbridge://user/" + testMachineID)}}, ""},
		{"query", &x509.Certificate{URIs: []*url.URL{u("drawbridge://machine/" + testMachineID + "?x=1")}}, ""},
		{"extra path", &x509.Certificate{URIs: []*url.URL{u("drawbridge://machine/" + testMachineID + "/x")}}, ""},
		{"too short", &x509.Certificate{URIs: []*url.URL{u("drawbridge://machine/mch_0123456789")}}, ""},
		{"too long", &x509.Certificate{URIs: []*url.URL{u("drawbridge://machine/mch_01234567890123456789012345678901234567890")}}, ""},
		{"upper case", &x509.Certificate{URIs: []*url.URL{u("drawbridge://machine/mch_ABCDEFGHIJ0123456789")}}, ""},
		{"wrong prefix", &x509.Certificate{URIs: []*url.URL{u("drawbridge://machine/req_abcdefghij0123456789")}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MachineIDFromCert(tt.cert)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidMachineID) {
					t.Errorf("MachineIDFromCert = %q, %v; want ErrInvalidMachineID", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("MachineIDFromCert = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// startServer serves a.TLSConfig() on 127.0.0.1 and answers with the machine
// ID of a verified client certificate, or "anonymous".
func startServer(t *testing.T, a *Authority) (port string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			io.WriteString(w, "anonymous")
			return
		}
		id, err := MachineIDFromCert(r.TLS.VerifiedChains[0][0])
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		io.WriteString(w, id)
	}))
	srv.Listener.Close()
	srv.Listener = tls.NewListener(ln, a.TLSConfig())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port
}

func get(t *testing.T, cfg *tls.Config, host, port string) (string, error) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + net.JoinHostPort(host, port) + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status + ": " + string(b))
	}
	return string(b), err
}

func TestTLS(t *testing.T) {
	// crypto/tls checks validity against the wall clock, so these
	// certificates are issued at the real time.
	now := time.Now()
	a := mustLoad(t, t.TempDir(), nil, now)
	other := mustLoad(t, t.TempDir(), nil, now)
	port := startServer(t, a)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, a.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	caPool, err := LoadClientCAFile(caFile)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("agent", func(t *testing.T) {
		certPEM, keyPEM := issueAgent(t, a, testMachineID, now)
		cfg, err := ClientTLSConfig(caPool, certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range []string{"127.0.0.1", "localhost"} {
			got, err := get(t, cfg, host, port)
			if err != nil || got != testMachineID {
				t.Errorf("%s: got %q, %v; want %q", host, got, err, testMachineID)
			}
		}
	})

	t.Run("no client certificate", func(t *testing.T) {
		got, err := get(t, &tls.Config{RootCAs: caPool}, "localhost", port)
		if err != nil || got != "anonymous" {
			t.Errorf("got %q, %v; want anonymous", got, err)
		}
	})

	t.Run("agent certificate from another CA", func(t *testing.T) {
		certPEM, keyPEM := issueAgent(t, other, testMachineID, now)
		cfg, err := ClientTLSConfig(caPool, certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		// Go's client would not send a certificate whose issuer is not among
		// the server's acceptable CAs; force it, as an attacker would.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cfg.Certificates[0], nil
		}
		if got, err := get(t, cfg, "127.0.0.1", port); err == nil {
			t.Errorf("got %q; want handshake failure", got)
		}
	})

	t.Run("server certificate from another CA", func(t *testing.T) {
		if got, err := get(t, &tls.Config{RootCAs: poolOf(other.CACert())}, "localhost", port); err == nil {
			t.Errorf("got %q; want verification failure", got)
		}
	})

	t.Run("pinned dial", func(t *testing.T) {
		for _, host := range []string{"127.0.0.1", "localhost"} {
			if got, err := get(t, PinnedDialConfig(a.Pin()), host, port); err != nil || got != "anonymous" {
				t.Errorf("%s: got %q, %v", host, got, err)
			}
		}
	})

	t.Run("pinned dial wrong pin", func(t *testing.T) {
		_, err := get(t, PinnedDialConfig(other.Pin()), "127.0.0.1", port)
		if !errors.Is(err, ErrPinMismatch) {
			t.Errorf("err = %v, want ErrPinMismatch", err)
		}
	})

	t.Run("pinned dial malformed pin", func(t *testing.T) {
		if _, err := get(t, PinnedDialConfig("sha256:"), "127.0.0.1", port); err == nil {
			t.Error("malformed pin accepted")
		}
	})

	t.Run("pinned dial wrong name", func(t *testing.T) {
		cfg := PinnedDialConfig(a.Pin())
		cfg.ServerName = "wrong.example.com"
		_, err := get(t, cfg, "127.0.0.1", port)
		if !errors.Is(err, ErrPinMismatch) {
			t.Errorf("err = %v, want failure for a name the certificate does not cover", err)
		}
	})

	t.Run("renew swaps served certificate", func(t *testing.T) {
		if _, err := a.Renew([]string{"new.example.com"}, now); err != nil {
			t.Fatal(err)
		}
		cfg := &tls.Config{RootCAs: caPool, ServerName: "new.example.com"}
		if got, err := get(t, cfg, "127.0.0.1", port); err != nil || got != "anonymous" {
			t.Errorf("got %q, %v", got, err)
		}
	})
}
