package control

import (
	"context"
	"fmt"
	"slices"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// ErrInvalidCSR is returned by Signers for an unusable CSR.
var errBadJoin = &d.Error{Kind: d.Unauthenticated, Message: "invalid, expired or used-up join token"}

// Enroll registers a machine with a join token and signs its CSR. The join
// token's use is counted atomically in the same transaction, so a token can
// never enroll more machines than its uses. Unauthenticated for a bad token,
// Invalid for a bad name, labels or CSR, Conflict for a taken name.
func (s *Service) Enroll(ctx context.Context, source string, in d.EnrollInput) (*d.Enrollment, error) {
	id, secret, ok := d.SplitSecret(in.JoinToken, d.JoinTokenPrefix)
	if !ok {
		return nil, errBadJoin
	}
	if err := d.ValidateMachineName(in.Name); err != nil {
		return nil, err
	}
	if err := d.ValidateLabels(in.Labels); err != nil {
		return nil, err
	}
	now := s.now()
	m := &d.Machine{ID: d.NewMachineID(), Name: in.Name, Labels: in.Labels, Inventory: sanitizeInventory(in.Inventory), EnrolledAt: now, LastSeen: now, StateVersion: 1} // versions start at 1: index 0 means "now"
	var certPEM []byte
	var notAfter time.Time
	actor := d.Actor{Kind: d.ActorAgent, ID: string(m.ID), Name: in.Name}
	err := s.update(ctx, func(tx *store.Tx, _ time.Time) error {
		j, err := tx.JoinToken(d.JoinTokenID(id))
		if d.ErrorKind(err) == d.NotFound {
			return errBadJoin
		}
		if err != nil {
			return err
		}
		if !d.SecretMatches(secret, j.Hash) || !j.Usable(now) {
			return errBadJoin
		}
		if err := tx.JoinTokenUse(j.ID, now); err != nil {
			if d.ErrorKind(err) == d.Conflict {
				return errBadJoin
			}
			return err
		}
		// The join token's labels are authoritative: they decide scopes and
		// selector policies, so an agent may add labels but never change
		// one its token sets.
		labels := map[string]string{}
		for k, v := range in.Labels {
			if tv, ok := j.Labels[k]; ok && tv != v {
				return d.FieldErrorf("labels", "the join token sets %s=%s; an agent cannot change it", k, tv)
			}
			labels[k] = v
		}
		for k, v := range j.Labels {
			labels[k] = v
		}
		m.Labels = labels
		// Sign only for a valid join token: unauthenticated callers never
		// get the CA to sign anything.
		if certPEM, notAfter, err = s.signer.SignAgentCSR([]byte(in.CSR), string(m.ID), s.cfg.AgentCertTTL, now); err != nil {
			return &d.Error{Kind: d.Invalid, Field: "csr", Message: "invalid certificate signing request", Err: err}
		}
		if err := tx.MachineCreate(m); err != nil {
			if d.ErrorKind(err) == d.Conflict {
				return &d.Error{Kind: d.Conflict, Field: "name", Message: fmt.Sprintf("a machine named %s is already enrolled; choose another --name or delete the old machine", d.Excerpt(in.Name))}
			}
			return err
		}
		if err := s.audit(tx, now, actor, d.EvJoinTokenUsed, string(j.ID), "", "", map[string]any{"machine": m.ID, "source": source}); err != nil {
			return err
		}
		return s.audit(tx, now, actor, d.EvMachineEnrolled, string(m.ID), "", "", map[string]any{"name": m.Name, "labels": m.Labels, "source": source, "cert_not_after": notAfter})
	})
	if err != nil {
		return nil, err
	}
	return &d.Enrollment{MachineID: m.ID, Name: m.Name, Certificate: string(certPEM), NotAfter: notAfter, CA: string(s.signer.CAPEM())}, nil
}

// sanitizeInventory bounds what an agent may store about itself, and makes
// its strings safe to store and show (d.CleanText).
func sanitizeInventory(inv d.Inventory) d.Inventory {
	trim := d.CleanText
	inv.Hostname = trim(inv.Hostname, 255)
	inv.OS = trim(inv.OS, 32)
	inv.Distribution = trim(inv.Distribution, 128)
	inv.Kernel = trim(inv.Kernel, 128)
	inv.AgentVersion = trim(inv.AgentVersion, 64)
	inv.Firewall = trim(inv.Firewall, 64)
	inv.FirewallError = trim(inv.FirewallError, 512)
	if len(inv.Addresses) > 256 {
		inv.Addresses = inv.Addresses[:256]
	}
	if len(inv.Listening) > 4096 {
		inv.Listening = inv.Listening[:4096]
	}
	inv.Addresses = slices.Clone(inv.Addresses)
	for i := range inv.Addresses {
		inv.Addresses[i] = trim(inv.Addresses[i], 64)
	}
	inv.Listening = slices.Clone(inv.Listening)
	for i := range inv.Listening {
		inv.Listening[i].Address = trim(inv.Listening[i].Address, 64)
		inv.Listening[i].Protocol = d.Protocol(trim(string(inv.Listening[i].Protocol), 8))
	}
	return inv
}

// AgentMachine returns the machine a verified client certificate names.
// Unauthenticated if it no longer exists (deleted machines lose access).
func (s *Service) AgentMachine(ctx context.Context, id d.MachineID) (*d.Machine, error) {
	var m *d.Machine
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		m, err = tx.Machine(id)
		return err
	})
	if d.ErrorKind(err) == d.NotFound {
		return nil, &d.Error{Kind: d.Unauthenticated, Message: "unknown machine certificate"}
	}
	return m, err
}

// Renew signs a fresh client certificate for an enrolled agent.
func (s *Service) Renew(ctx context.Context, agent d.Actor, csrPEM string) (*d.Enrollment, error) {
	now := s.now()
	certPEM, notAfter, err := s.signer.SignAgentCSR([]byte(csrPEM), agent.ID, s.cfg.AgentCertTTL, now)
	if err != nil {
		return nil, &d.Error{Kind: d.Invalid, Field: "csr", Message: "invalid certificate signing request", Err: err}
	}
	err = s.update(ctx, func(tx *store.Tx, _ time.Time) error {
		return s.audit(tx, now, agent, d.EvMachineRenewed, agent.ID, "", "", map[string]any{"not_after": notAfter})
	})
	if err != nil {
		return nil, err
	}
	return &d.Enrollment{MachineID: d.MachineID(agent.ID), Name: agent.Name, Certificate: string(certPEM), NotAfter: notAfter, CA: string(s.signer.CAPEM())}, nil
}

// ReportInventory stores what the agent reports about its host.
func (s *Service) ReportInventory(ctx context.Context, agent d.Actor, inv d.Inventory) error {
	if err := inv.Clock.Check("clock"); err != nil {
		return err
	}
	return s.update(ctx, func(tx *store.Tx, now time.Time) error {
		m, err := tx.Machine(d.MachineID(agent.ID))
		if err != nil {
			return err
		}
		m.Inventory = sanitizeInventory(inv)
		m.LastSeen = now
		return tx.MachineUpdate(m)
	})
}

// AgentStopped records that the agent stopped cleanly, so its machine shows
// offline at once rather than after the online window. Its next call shows
// it online again.
func (s *Service) AgentStopped(ctx context.Context, agent d.Actor) error {
	return s.update(ctx, func(tx *store.Tx, now time.Time) error {
		return tx.MachineStopped(d.MachineID(agent.ID), now)
	})
}

// WatchState returns the machine's desired state as soon as its version
// exceeds index, or the current state when wait passes (a long-poll, as in
// Consul's blocking queries). Index 0 returns at once. Each call marks the
// agent as seen.
func (s *Service) WatchState(ctx context.Context, agent d.Actor, index int64, wait time.Duration) (d.DesiredState, error) {
	id := d.MachineID(agent.ID)
	wake, cancel := s.hub.Subscribe(machineTopic(agent.ID))
	defer cancel()
	touch := func() error {
		err := s.update(ctx, func(tx *store.Tx, now time.Time) error { return tx.MachineTouch(id, now) })
		if err != nil && s.db.Full() {
			return nil // a full disk must not keep the desired state (revocations) from the agent
		}
		return err
	}
	if err := touch(); err != nil {
		return d.DesiredState{}, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	recheck := time.NewTicker(s.cfg.RecheckInterval)
	defer recheck.Stop()
	// Seen while waiting, so that other replicas (which cannot see this
	// watch) still count the agent as online.
	heartbeat := time.NewTicker(max(s.cfg.OnlineWindow/3, 100*time.Millisecond))
	defer heartbeat.Stop()
	for {
		// Read the version alone (cheap), and the whole state only when it
		// must be sent: remaining durations are computed at that moment, so
		// an answer never carries time that has already passed.
		v, err := s.stateVersion(ctx, id)
		if err != nil {
			return d.DesiredState{}, err
		}
		if v > index || index == 0 {
			return s.desired(ctx, id)
		}
		select {
		case <-wake:
		case <-recheck.C:
		case <-heartbeat.C:
			if err := touch(); err != nil {
				return d.DesiredState{}, err
			}
		case <-deadline.C:
			if err := touch(); err != nil {
				return d.DesiredState{}, err
			}
			return s.desired(ctx, id)
		case <-ctx.Done():
			return d.DesiredState{}, ctx.Err()
		}
	}
}

// stateVersion reads a machine's desired-state version.
func (s *Service) stateVersion(ctx context.Context, id d.MachineID) (int64, error) {
	var v int64
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		v, err = tx.MachineStateVersion(id)
		return err
	})
	return v, err
}

// desired reads what a machine's desired state is now.
func (s *Service) desired(ctx context.Context, id d.MachineID) (d.DesiredState, error) {
	var ds d.DesiredState
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		m, err := tx.Machine(id)
		if err != nil {
			return err
		}
		p, err := effectivePolicy(tx, m)
		if err != nil {
			return err
		}
		ts, err := tx.TargetsByMachine(id, d.GrantedStatuses...)
		if err != nil {
			return err
		}
		cut, err := tx.TargetsToTerminate(id)
		if err != nil {
			return err
		}
		ts = append(ts, cut...)
		ds = d.Desired(id, m.StateVersion, p, ts, s.now())
		return nil
	})
	return ds, err
}

// Ack records that the agent applied (or failed to apply) a state version:
// applying targets carried by it become active (or failed), with the time it
// took from request to kernel.
func (s *Service) Ack(ctx context.Context, agent d.Actor, in d.AckInput) error {
	id := d.MachineID(agent.ID)
	if err := in.Clock.Check("clock"); err != nil {
		return err
	}
	in.Error = d.CleanText(in.Error, d.MaxMachineText) // cut on a rune boundary: the chain must export as valid UTF-8
	var latencies []time.Duration
	err := s.update(ctx, func(tx *store.Tx, now time.Time) error {
		latencies = nil
		m, err := tx.Machine(id)
		if err != nil {
			return err
		}
		if in.Version < 0 || in.Version > m.StateVersion {
			return d.FieldErrorf("version", "version %d was never sent to this machine", in.Version)
		}
		if in.Clock != nil {
			m.Inventory.Clock = in.Clock
			if err := tx.MachineUpdate(m); err != nil {
				return err
			}
		}
		if err := tx.MachineSetApplied(id, in.Version, in.Error); err != nil {
			return err
		}
		if err := tx.MachineTouch(id, now); err != nil {
			return err
		}
		ts, err := tx.TargetsApplying(id, in.Version)
		if err != nil {
			return err
		}
		reqs := map[d.RequestID]*d.Request{}
		for i := range ts {
			t := &ts[i]
			r, ok := reqs[t.RequestID]
			if !ok {
				if r, err = tx.Request(t.RequestID); err != nil {
					return err
				}
				reqs[t.RequestID] = r
			}
			if in.Error != "" {
				t.Fail("agent could not apply: " + in.Error)
			} else if !t.Applied(in.Version, now, r.Start) {
				continue
			}
			if err := tx.TargetUpdate(t); err != nil {
				return err
			}
			if in.Error == "" {
				latencies = append(latencies, t.ApplyLatency.Std())
				if err := s.audit(tx, now, agent, d.EvRequestApplied, string(t.ID), "", t.RequestID, map[string]any{
					"port": t.Port, "protocol": t.Protocol, "source": t.Source, "latency_ms": t.ApplyLatency.Std().Milliseconds(), "kernel_apply_ms": in.ApplyTime.Std().Milliseconds()}); err != nil {
					return err
				}
			} else if err := tx.EventAppend(event(now, agent, d.EvRequestFailed, string(t.ID), d.ResultFailure, t.Reason, t.RequestID, nil)); err != nil {
				return err
			}
		}
		for rid := range reqs {
			if err := refreshRequestStatus(tx, rid); err != nil {
				return err
			}
		}
		for _, tid := range in.Terminated {
			if err := s.markTerminated(tx, now, agent, id, tid); err != nil {
				return err
			}
		}
		if in.Error != "" {
			if len(ts) > 0 {
				// The agent keeps re-applying the state it holds, and a later
				// apply may succeed: send it a state without the grants now
				// recorded as failed, so the record and the kernel agree. Only
				// when something failed, so a failing kernel cannot loop us.
				if _, err := tx.MachineBumpVersion(id); err != nil {
					return err
				}
			}
			return tx.EventAppend(event(now, agent, d.EvMachineApplyFailed, string(id), d.ResultFailure, in.Error, "", map[string]any{"version": in.Version}))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.obs.Applied != nil {
		for _, l := range latencies {
			s.obs.Applied(l)
		}
	}
	return nil
}

func (s *Service) markTerminated(tx *store.Tx, now time.Time, agent d.Actor, m d.MachineID, tid d.TargetID) error {
	ts, err := tx.TargetsToTerminate(m)
	if err != nil {
		return err
	}
	for i := range ts {
		t := &ts[i]
		if t.ID != tid || !t.Terminate || !t.TerminatedAt.IsZero() {
			continue
		}
		t.TerminatedAt = now
		if err := tx.TargetUpdate(t); err != nil {
			return err
		}
		return s.audit(tx, now, agent, d.EvRequestTerminated, string(t.ID), "established flows cut", t.RequestID, nil)
	}
	return nil // unknown or already done: idempotent
}

// refreshRequestStatus recomputes a request's aggregate status.
func refreshRequestStatus(tx *store.Tx, id d.RequestID) error {
	r, err := tx.Request(id)
	if err != nil {
		return err
	}
	st := d.AggregateStatus(r.Targets)
	if st == r.Status {
		return nil
	}
	r.Status = st
	return tx.RequestUpdate(r)
}
