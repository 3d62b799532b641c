package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
	"github.com/drawbridge/drawbridge/internal/firewall"
	"github.com/drawbridge/drawbridge/internal/pki"
)

// Enforcer is what the agent needs from the kernel: make the table match a
// state, cut established flows, and read the allow elements' traffic
// counters. *firewall.Firewall implements it.
type Enforcer interface {
	Apply(firewall.State) (firewall.Stats, error)
	Terminate(src netip.Prefix, proto firewall.Protocol, port uint16) (int, error)
	Installed() (bool, error)
	Counters() ([]firewall.Counter, error)
}

// Config configures an agent.
type Config struct {
	Server    string            // https://host:port; needed only to enroll
	JoinToken string            // needed only to enroll
	CAPin     string            // "sha256:…", authenticates the server at enrollment
	Name      string            // machine name; default: hostname
	Labels    map[string]string // set at enrollment
	DataDir   string            // identity and certificate

	WatchWait         time.Duration // long-poll wait (default 30s)
	RepairInterval    time.Duration // re-apply period, repairs drift (default 2s)
	InventoryInterval time.Duration // inventory report period (default 1m)
	UsageInterval     time.Duration // traffic counter reading period (default 5s)
	Version           string        // agent version, reported in the inventory
}

// Agent runs the host loop. Create with New, run with Run.
type Agent struct {
	cfg       Config
	log       *slog.Logger
	fw        Enforcer
	inventory func(context.Context) d.Inventory

	creds *creds
	api   *client.Client

	mu         sync.Mutex // serialises applies
	state      *d.DesiredState
	receivedAt time.Time // monotonic: when state arrived
	terminated map[d.TargetID]bool
	usage      *usageTracker
	clock      clockEstimator // this clock against the server's

	// savedProtected is the protected ports as stateFile holds them: as
	// last written, or as found there at start. Under mu.
	savedProtected []byte
}

// New returns an agent. inventory collects the host's inventory.
func New(cfg Config, log *slog.Logger, fw Enforcer, inventory func(context.Context) d.Inventory) *Agent {
	if cfg.WatchWait == 0 {
		cfg.WatchWait = 30 * time.Second
	}
	if cfg.RepairInterval == 0 {
		cfg.RepairInterval = 2 * time.Second
	}
	if cfg.InventoryInterval == 0 {
		cfg.InventoryInterval = time.Minute
	}
	if cfg.UsageInterval <= 0 {
		cfg.UsageInterval = 5 * time.Second
	}
	return &Agent{cfg: cfg, log: log, fw: fw, inventory: inventory, terminated: map[d.TargetID]bool{}, usage: newUsageTracker()}
}

// MachineID returns the enrolled machine's ID ("" before enrollment).
func (a *Agent) MachineID() d.MachineID {
	if a.creds == nil {
		return ""
	}
	return a.creds.id.MachineID
}

// Run enrolls if needed, then watches and applies until ctx ends, and then
// tells the server it stopped. It returns an error when it cannot start (no
// identity and cannot enroll), and a *GoneError when the server no longer
// knows this machine (it was deleted) or refuses its certificate.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.ensureIdentity(ctx); err != nil {
		return err
	}
	a.log.Info("agent running", "machine", a.creds.id.MachineID, "name", a.creds.id.Name, "server", a.creds.id.Server)
	a.restoreProtected()
	a.mu.Lock()
	a.readUsage() // the baseline: what is counted already belongs to earlier runs
	a.mu.Unlock()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	wg.Go(func() { a.repairLoop(ctx) })
	wg.Go(func() { a.usageLoop(ctx) })
	wg.Go(func() { a.inventoryLoop(ctx) })
	wg.Go(func() { a.renewLoop(ctx) })
	a.watchLoop(ctx, stop)
	wg.Wait()
	var gone *GoneError
	if errors.As(context.Cause(ctx), &gone) {
		return gone
	}
	a.sayOffline()
	return nil
}

// GoneError is Run's error when the server answers that this machine does
// not exist (deleted) or that its certificate is not accepted: retrying
// cannot help, the host must enroll again.
type GoneError struct {
	Machine d.MachineID
	DataDir string
	Err     error // the server's answer; not unwrapped, so that callers print the advice
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("the server refuses this agent as machine %s (%v): the machine was probably deleted on the server "+
		"('drawbridge machines delete'). Its protected ports stay closed and its grants still close at their end times. "+
		"To retire this host, run 'drawbridge agent --cleanup'; to enroll it again, remove %s and start the agent "+
		"with a new join token ('drawbridge join-token create')", e.Machine, e.Err, e.DataDir)
}

// gone reports whether err is the server saying this machine is not (or no
// longer) one it knows: unauthenticated, forbidden or not found.
func gone(err error) bool {
	switch d.ErrorKind(err) {
	case d.Unauthenticated, d.Forbidden, d.NotFound:
		return true
	}
	return false
}

// sayOffline tells the server the agent stopped, so its machine shows
// offline at once; a best effort, bounded in time.
func (a *Agent) sayOffline() {
	ctx, cancel := context.WithTimeout(context.Background(), offlineTimeout)
	defer cancel()
	if err := a.api.AgentOffline(ctx, a.creds.id.MachineID); err != nil {
		a.log.Warn("tell the server this agent stopped", "err", err)
		return
	}
	a.log.Info("agent stopped", "machine", a.creds.id.MachineID)
}

// offlineTimeout bounds the goodbye call at shutdown.
const offlineTimeout = 3 * time.Second

func (a *Agent) ensureIdentity(ctx context.Context) error {
	c, err := loadIdentity(a.cfg.DataDir)
	if err == nil {
		if a.cfg.Server != "" && a.cfg.Server != c.id.Server {
			a.log.Warn("ignoring --server: this agent is enrolled with another server; remove the data directory to enroll again", "enrolled", c.id.Server, "flag", a.cfg.Server)
		}
		return a.useCreds(c)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("agent identity in %s: %w", a.cfg.DataDir, err)
	}
	if a.cfg.Server == "" || a.cfg.JoinToken == "" || a.cfg.CAPin == "" {
		return fmt.Errorf("this agent is not enrolled yet: give --server, --join-token and --ca-pin (from `drawbridge join-token create`)")
	}
	return a.enroll(ctx)
}

func (a *Agent) useCreds(c *creds) error {
	tr := &http.Transport{TLSClientConfig: c.tlsConfig(), ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second}
	hc := &http.Client{Transport: &clockTransport{next: tr, clock: &a.clock}}
	api, err := client.New(c.id.Server, "", hc)
	if err != nil {
		return err
	}
	a.creds, a.api = c, api
	return nil
}

func (a *Agent) enroll(ctx context.Context) error {
	name := a.cfg.Name
	inv := a.inventory(ctx)
	if name == "" {
		name = inv.Hostname
	}
	keyPEM, csrPEM, err := pki.NewKeyAndCSR(name)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: client.DefaultTimeout, Transport: &http.Transport{TLSClientConfig: pki.PinnedDialConfig(a.cfg.CAPin)}}
	api, err := client.New(a.cfg.Server, "", hc)
	if err != nil {
		return err
	}
	e, err := api.Enroll(ctx, d.EnrollInput{JoinToken: a.cfg.JoinToken, Name: name, Labels: a.cfg.Labels, Inventory: inv, CSR: string(csrPEM)})
	if err != nil {
		return fmt.Errorf("enroll with %s: %w", a.cfg.Server, err)
	}
	pool, err := pki.VerifyPinnedCA([]byte(e.CA), a.cfg.CAPin)
	if err != nil {
		return fmt.Errorf("enroll: the CA the server sent does not match --ca-pin: %w", err)
	}
	if err := checkCertPEM(pool, e.Certificate); err != nil {
		return fmt.Errorf("enroll: certificate from server: %w", err)
	}
	id := identity{MachineID: e.MachineID, Name: e.Name, Server: a.cfg.Server}
	if err := saveEnrollment(a.cfg.DataDir, id, keyPEM, e); err != nil {
		return fmt.Errorf("save enrollment: %w", err)
	}
	a.log.Info("enrolled", "machine", e.MachineID, "name", e.Name, "cert_not_after", e.NotAfter)
	c, err := loadIdentity(a.cfg.DataDir)
	if err != nil {
		return err
	}
	return a.useCreds(c)
}

// watchLoop long-polls the desired state and applies each new version. When
// the server says this machine is gone it stops the agent with a GoneError.
func (a *Agent) watchLoop(ctx context.Context, stop context.CancelCauseFunc) {
	var index int64
	failures, refusals := 0, 0
	for ctx.Err() == nil {
		callCtx, cancel := context.WithTimeout(ctx, a.cfg.WatchWait+15*time.Second)
		ds, err := a.api.WatchState(callCtx, a.creds.id.MachineID, index, a.cfg.WatchWait)
		received := time.Now()
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Twice in a row, so that one stray answer (a proxy in
			// front of the server, a deploy) does not end the agent.
			refusals++
			if !gone(err) {
				refusals = 0
			}
			if refusals >= 2 {
				stop(&GoneError{Machine: a.creds.id.MachineID, DataDir: a.cfg.DataDir, Err: err})
				return
			}
			failures++
			// Reconnect with index 0: the server answers at once with a
			// state computed then, so we reconcile with fresh remaining
			// times (never stale ones that would extend a grant).
			index = 0
			wait := backoff(failures)
			a.log.Warn("watch desired state", "err", err, "retry_in", wait)
			sleep(ctx, wait)
			continue
		}
		if failures > 0 {
			a.log.Info("reconnected to server", "after_failures", failures)
		}
		failures, refusals = 0, 0
		if ds.Version == index && index != 0 {
			continue
		}
		a.applyAndAck(ctx, ds, received)
		index = ds.Version
	}
}

// applyAndAck installs a new state, received at received, and confirms it
// to the server.
func (a *Agent) applyAndAck(ctx context.Context, ds *d.DesiredState, received time.Time) {
	a.mu.Lock()
	if changesGrants(a.state, ds) {
		a.readUsage() // count what the elements about to go carried
	}
	a.state, a.receivedAt = ds, received
	a.saveProtected(ds)
	start := time.Now()
	st, err := a.fw.Apply(toFirewall(ds, a.receivedAt, start))
	took := time.Since(start)
	var cut []d.TargetID
	if err == nil {
		cut = a.terminate(ds)
		if st.Replaced > 0 || st.Rebuilt {
			a.readUsage() // replaced elements count from zero: take the new baseline now
		}
	}
	a.mu.Unlock()
	ack := d.AckInput{Version: ds.Version, Terminated: cut, ApplyTime: d.Duration(took), Clock: a.clock.estimate()}
	if err != nil {
		ack.Error = err.Error()
		a.log.Error("apply desired state", "version", ds.Version, "err", err)
	} else {
		if n := endedByClock(ds, a.receivedAt); n > 0 {
			a.log.Warn("grants already ended by this machine's clock though the server gave them time: is the clock ahead of the server's?",
				"grants", n, "clock_offset", a.clock.estimate())
		}
		a.log.Info("applied", "version", ds.Version, "protected", len(ds.Protected), "grants", len(ds.Grants), "added", st.Added, "removed", st.Removed, "replaced", st.Replaced, "rebuilt", st.Rebuilt, "took", took)
	}
	for attempt := 1; ctx.Err() == nil; attempt++ {
		actx, cancel := context.WithTimeout(ctx, client.DefaultTimeout)
		err := a.api.Ack(actx, a.creds.id.MachineID, ack)
		cancel()
		if err == nil || attempt == 5 {
			if err != nil {
				a.log.Warn("ack desired state", "version", ds.Version, "err", err)
			}
			return
		}
		sleep(ctx, backoff(attempt))
	}
}

// terminate cuts established flows of revoked grants, once each.
func (a *Agent) terminate(ds *d.DesiredState) []d.TargetID {
	var done []d.TargetID
	for _, g := range ds.Terminate {
		id := g.Targets[0]
		if !a.terminated[id] {
			n, err := a.fw.Terminate(g.Source, fwProto(g.Protocol), g.Port)
			if err != nil {
				a.log.Error("terminate flows", "target", id, "err", err)
				continue
			}
			a.log.Info("terminated flows", "target", id, "source", g.Source, "port", g.Port, "flows", n)
			a.terminated[id] = true
		}
		done = append(done, id)
	}
	return done
}

// repairLoop re-applies the last state with what is left of each grant,
// so that a deleted or edited table comes back within RepairInterval.
func (a *Agent) repairLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.RepairInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		if a.state != nil {
			st, err := a.fw.Apply(toFirewall(a.state, a.receivedAt, time.Now()))
			switch {
			case err != nil:
				a.log.Error("repair", "err", err)
			case st.Changed():
				a.log.Warn("repaired drift in the drawbridge table", "added", st.Added, "removed", st.Removed, "replaced", st.Replaced, "rebuilt", st.Rebuilt)
				if st.Replaced > 0 || st.Rebuilt {
					a.readUsage() // new elements count from zero
				}
			}
		}
		a.mu.Unlock()
	}
}

func (a *Agent) inventoryLoop(ctx context.Context) {
	var last d.Inventory
	t := time.NewTicker(a.cfg.InventoryInterval)
	defer t.Stop()
	for {
		inv := a.inventory(ctx)
		inv.AgentVersion = a.cfg.Version
		inv.Clock = a.clock.estimate()
		if !sameInventory(inv, last) {
			cctx, cancel := context.WithTimeout(ctx, client.DefaultTimeout)
			err := a.api.ReportInventory(cctx, a.creds.id.MachineID, inv)
			cancel()
			if err == nil {
				last = inv
			} else if ctx.Err() == nil {
				a.log.Warn("report inventory", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clockReportStep is how far the clock estimate must move before the
// inventory is sent again for it alone.
const clockReportStep = 100 * time.Millisecond

// sameInventory reports whether b need not be sent after a: nothing changed
// but the clock estimate, and that by less than clockReportStep.
func sameInventory(a, b d.Inventory) bool {
	ca, cb := a.Clock, b.Clock
	a.Clock, b.Clock = nil, nil
	if !reflect.DeepEqual(a, b) || (ca == nil) != (cb == nil) {
		return false
	}
	return ca == nil || (ca.Offset-cb.Offset).Std().Abs() < clockReportStep
}

// renewLoop renews the client certificate once two thirds of its life passed.
func (a *Agent) renewLoop(ctx context.Context) {
	for ctx.Err() == nil {
		nb, na := a.creds.window()
		due := nb.Add(na.Sub(nb) * 2 / 3)
		if wait := time.Until(due); wait > 0 {
			sleep(ctx, min(wait, time.Hour))
			continue
		}
		if err := a.renew(ctx); err != nil {
			a.log.Warn("renew client certificate", "err", err, "expires", na)
			sleep(ctx, time.Minute)
		}
	}
}

func (a *Agent) renew(ctx context.Context) error {
	keyPEM, csrPEM, err := pki.NewKeyAndCSR(a.creds.id.Name)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, client.DefaultTimeout)
	defer cancel()
	e, err := a.api.Renew(cctx, a.creds.id.MachineID, string(csrPEM))
	if err != nil {
		return err
	}
	if err := checkCertPEM(a.creds.pool, e.Certificate); err != nil {
		return err
	}
	e.CA = string(readFile(a.creds.dir, caFile)) // keep the pinned CA, whatever was sent
	if err := saveEnrollment(a.creds.dir, identity{}, keyPEM, e); err != nil {
		return err
	}
	a.log.Info("renewed client certificate", "not_after", e.NotAfter)
	return a.creds.loadCert()
}

// toFirewall maps a desired state that arrived at receivedAt to the
// enforcer's input at now, each grant with what is left of it (grantLeft).
func toFirewall(ds *d.DesiredState, receivedAt, now time.Time) firewall.State {
	var s firewall.State
	for _, p := range ds.Protected {
		s.Protected = append(s.Protected, firewall.Port{Protocol: fwProto(p.Protocol), Number: p.Port})
	}
	for _, g := range ds.Grants {
		left := grantLeft(g, receivedAt, now)
		if left <= 0 {
			continue
		}
		s.Allows = append(s.Allows, firewall.Allow{Source: g.Source, Protocol: fwProto(g.Protocol), Port: g.Port, Remaining: left})
	}
	return s
}

func fwProto(p d.Protocol) firewall.Protocol {
	if p == d.UDP {
		return firewall.UDP
	}
	return firewall.TCP
}

// backoff is exponential with full jitter, capped at 30s, so that a
// restarted server is not hit by every agent at once.
func backoff(attempt int) time.Duration {
	ceil := min(30*time.Second, 250*time.Millisecond<<min(attempt, 8))
	return ceil/2 + rand.N(ceil/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// saveProtected remembers the protected ports (never grants) on disk, for
// restoreProtected after a reboot. It is called before the state is applied,
// so the file never lags the kernel; it writes (and fsyncs) only when the
// ports differ from what the file holds, which keeps the fsync off the path
// of an apply that only adds or removes grants. After a failed write the
// next apply tries again.
func (a *Agent) saveProtected(ds *d.DesiredState) {
	b, err := json.Marshal(ds.Protected)
	if err == nil && bytes.Equal(b, a.savedProtected) {
		return
	}
	if err == nil {
		err = writeAtomic(filepath.Join(a.cfg.DataDir, stateFile), b, 0o600)
	}
	if err != nil {
		a.log.Warn("save protected ports", "err", err)
		return
	}
	a.savedProtected = b
}

// restoreProtected fails closed after a reboot: when our table is gone (the
// kernel forgets nftables at boot), it closes the last known protected
// ports at once, with no grants, before the server is even reachable. When
// the table exists it is left alone: its grants keep their kernel timeouts
// until the server's state arrives.
func (a *Agent) restoreProtected() {
	b, err := os.ReadFile(filepath.Join(a.cfg.DataDir, stateFile))
	if err != nil {
		return
	}
	a.mu.Lock()
	a.savedProtected = b
	a.mu.Unlock()
	var ports []d.PortProto
	if err := json.Unmarshal(b, &ports); err != nil || len(ports) == 0 {
		return
	}
	ok, err := a.fw.Installed()
	if err != nil || ok {
		return
	}
	now := time.Now()
	st, err := a.fw.Apply(toFirewall(&d.DesiredState{Protected: ports}, now, now))
	if err != nil {
		a.log.Error("restore protected ports", "err", err)
		return
	}
	a.log.Warn("table was missing (reboot?): closed the last known protected ports until the server answers", "ports", len(ports), "added", st.Added)
}
