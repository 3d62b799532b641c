package main

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// maxTLSSessions bounds the session file: one entry per server address.
const maxTLSSessions = 32

// sessionFile is a tls.ClientSessionCache kept in a file, so that a CLI run
// resumes the TLS session of the previous one (a TLS 1.3 PSK handshake)
// instead of a full handshake. The file (mode 0600, directory 0700) holds
// only what crypto/tls needs to resume: per server address, the server's
// session ticket and the session state (resumption secret, the server's
// certificate chain as verified). crypto/tls checks a loaded session as it
// checks a new one (expiry, host name, the chain against the current roots)
// and drops it when it no longer holds. A missing, unreadable or corrupt
// file is an empty cache; a file that cannot be written is no cache: the
// handshake is a full one, never an error.
//
// Reading the file lets one pose as the server to this user's CLI until
// the ticket expires, as reading the saved token in the config directory
// lets one act as the user: both are the user's own files.
type sessionFile struct {
	path   string
	server string // host:port of --addr: the key in the file
	mu     sync.Mutex
}

// sessionEntry is one server's resumable session.
type sessionEntry struct {
	Ticket []byte    `json:"ticket"` // as the server sent it, opaque
	State  []byte    `json:"state"`  // tls.SessionState.Bytes
	Saved  time.Time `json:"saved"`
}

// newSessionFile returns the cache in dir/drawbridge/tls-sessions for the
// server at addr (https://host:port, as --addr), or nil (no cache) when
// cacheDir is nil or fails or addr has no host. Sessions are kept per
// host:port: crypto/tls's own key is the host name alone, and two servers
// on one host have different tickets.
func newSessionFile(cacheDir func() (string, error), addr string) *sessionFile {
	if cacheDir == nil {
		return nil
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr // as client.New reads it
	}
	u, err := url.Parse(addr)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	server := u.Host
	if u.Port() == "" {
		server = net.JoinHostPort(u.Hostname(), "443")
	}
	dir, err := cacheDir()
	if err != nil || dir == "" {
		return nil
	}
	return &sessionFile{path: filepath.Join(dir, "drawbridge", "tls-sessions"), server: server}
}

// load reads the file; anything wrong with it is an empty cache.
func (c *sessionFile) load() map[string]sessionEntry {
	m := map[string]sessionEntry{}
	b, err := os.ReadFile(c.path)
	if err != nil || json.Unmarshal(b, &m) != nil {
		return map[string]sessionEntry{}
	}
	return m
}

// Get implements tls.ClientSessionCache. The HTTP client of a run talks to
// one server only, so crypto/tls's key (the host name) is not needed.
func (c *sessionFile) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.load()[c.server]
	if !ok {
		return nil, false
	}
	ss, err := tls.ParseSessionState(e.State)
	if err != nil {
		return nil, false
	}
	cs, err := tls.NewResumptionState(e.Ticket, ss)
	if err != nil {
		return nil, false
	}
	return cs, true
}

// Put implements tls.ClientSessionCache: it saves the server's session, or
// forgets it when cs is nil. The file is rewritten whole (read, changed,
// renamed into place), without fsync: it is a cache.
func (c *sessionFile) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.load()
	key := c.server
	if cs == nil {
		if _, ok := m[key]; !ok {
			return
		}
		delete(m, key)
	} else {
		ticket, ss, err := cs.ResumptionState()
		if err != nil || ss == nil {
			return
		}
		state, err := ss.Bytes()
		if err != nil {
			return
		}
		m[key] = sessionEntry{Ticket: ticket, State: state, Saved: time.Now()}
		for len(m) > maxTLSSessions {
			oldest := key
			for k, e := range m {
				if e.Saved.Before(m[oldest].Saved) {
					oldest = k
				}
			}
			delete(m, oldest)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	dir := filepath.Dir(c.path)
	if os.MkdirAll(dir, 0o700) != nil {
		return
	}
	f, err := os.CreateTemp(dir, ".tls-sessions-*") // mode 0600
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), c.path)
	}
	if werr != nil {
		_ = os.Remove(f.Name())
	}
}
