package control

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/store"
)

// wakeWorld is three machines (web and api labelled env=prod, dev env=dev)
// under their own policies (web and api automatic, dev manual), and a
// request on each: r1 on web and r2 on api applying, r3 on dev pending.
type wakeWorld struct {
	svc        *Service
	db         *store.DB
	admin      d.Actor
	machines   map[string]*d.Machine // by name
	r1, r2, r3 *d.Request
	names      map[string]string // topic -> name in the test
}

func newWakeWorld(t *testing.T) *wakeWorld {
	svc, db, admin := newService(t)
	w := &wakeWorld{svc: svc, db: db, admin: admin, machines: map[string]*d.Machine{}, names: map[string]string{}}
	on := true
	for _, m := range []struct{ name, env string }{{"web", "prod"}, {"api", "prod"}, {"dev", "dev"}} {
		w.machines[m.name] = seedMachine(t, db, m.name)
		if _, err := svc.MachineLabel(t.Context(), admin, m.name, d.LabelsInput{Set: map[string]string{"env": m.env}}); err != nil {
			t.Fatal(err)
		}
		in := d.PolicyInput{Enabled: &on, Rules: []d.RuleInput{{Port: 22}}}
		if m.name == "dev" {
			in.Approval = &d.ApprovalInput{Mode: d.ApprovalManual}
		}
		if _, err := svc.PolicySet(t.Context(), admin, m.name, in); err != nil {
			t.Fatal(err)
		}
		w.names[machineTopic(string(w.machines[m.name].ID))] = m.name
	}
	create := func(machine string) *d.Request {
		r, err := svc.RequestCreate(t.Context(), admin, d.RequestInput{
			Targets: []d.MachineTargets{{Machine: machine, Ports: []d.PortTarget{{Port: 22}}}}, Source: "198.51.100.7", Duration: "30m"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	w.r1, w.r2, w.r3 = create("web"), create("api"), create("dev")
	for name, r := range map[string]*d.Request{"r1": w.r1, "r2": w.r2, "r3": w.r3} {
		w.names[requestTopic(string(r.ID))] = name
	}
	return w
}

// watch subscribes to every machine's and request's topic and returns a
// function that reports, sorted, the names of those woken since. (A request
// created meanwhile is left out: nobody can wait on it before it exists.)
func (w *wakeWorld) watch(t *testing.T) func() []string {
	snap := w.snapshot(t)
	type sub struct {
		topic string
		ch    <-chan struct{}
	}
	var subs []sub
	for topic := range w.names {
		ch, cancel := w.svc.hub.Subscribe(topic)
		t.Cleanup(cancel)
		subs = append(subs, sub{topic, ch})
	}
	return func() []string {
		var got []string
		for _, s := range subs {
			select {
			case <-s.ch:
				got = append(got, w.names[s.topic])
			default:
			}
		}
		slices.Sort(got)
		// Whatever was woken is exactly what changed in the database.
		changed := w.changedSince(t, snap)
		if !slices.Equal(got, changed) {
			t.Errorf("woken %v, but the database changed %v", got, changed)
		}
		return got
	}
}

// snapshot is each machine's state version and each request as read.
type snapshot struct {
	versions map[string]int64
	requests map[d.RequestID]d.Request
}

func (w *wakeWorld) snapshot(t *testing.T) snapshot {
	s := snapshot{versions: map[string]int64{}, requests: map[d.RequestID]d.Request{}}
	err := w.db.Read(t.Context(), func(tx *store.Tx) error {
		for name, m := range w.machines {
			v, err := tx.MachineStateVersion(m.ID)
			if err != nil {
				return err
			}
			s.versions[name] = v
		}
		rs, err := tx.Requests(store.RequestFilter{Limit: store.MaxLimit})
		if err != nil {
			return err
		}
		for _, r := range rs {
			full, err := tx.Request(r.ID)
			if err != nil {
				return err
			}
			s.requests[r.ID] = *full
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// changedSince names the machines whose state version and the requests
// whose record differ from before.
func (w *wakeWorld) changedSince(t *testing.T, before snapshot) []string {
	after := w.snapshot(t)
	var out []string
	for name, v := range after.versions {
		if before.versions[name] != v {
			out = append(out, name)
		}
	}
	for id, r := range after.requests {
		old, ok := before.requests[id]
		switch {
		case !ok: // created meanwhile (see watch)
		case !reflect.DeepEqual(old, r):
			out = append(out, w.names[requestTopic(string(id))])
		}
	}
	slices.Sort(out)
	return out
}

// TestWakeUps: a write through the store wakes the watchers of exactly the
// machines and requests it changed (each case also checks that against the
// database), and a failed transaction wakes nobody.
func TestWakeUps(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		before  func(t *testing.T, w *wakeWorld) // not watched
		act     func(t *testing.T, w *wakeWorld) error
		wantErr bool
		want    []string
	}{
		{
			name: "create with automatic approval wakes the machine",
			act: func(t *testing.T, w *wakeWorld) error {
				_, err := w.svc.RequestCreate(t.Context(), w.admin, d.RequestInput{
					Targets: []d.MachineTargets{{Machine: "web", Ports: []d.PortTarget{{Port: 22}}}}, Source: "198.51.100.8", Duration: "10m"})
				return err
			},
			want: []string{"web"},
		},
		{
			name: "create under manual approval wakes no machine",
			act: func(t *testing.T, w *wakeWorld) error {
				_, err := w.svc.RequestCreate(t.Context(), w.admin, d.RequestInput{
					Targets: []d.MachineTargets{{Machine: "dev", Ports: []d.PortTarget{{Port: 22}}}}, Source: "198.51.100.8", Duration: "10m"})
				return err
			},
		},
		{
			name: "revoke wakes the machine's agent and the request's waiter",
			act: func(t *testing.T, w *wakeWorld) error {
				_, err := w.svc.Revoke(t.Context(), w.admin, w.r1.ID, d.RevokeInput{})
				return err
			},
			want: []string{"r1", "web"},
		},
		{
			name: "a revoke that fails (already ended) wakes nobody",
			before: func(t *testing.T, w *wakeWorld) {
				if _, err := w.svc.Revoke(t.Context(), w.admin, w.r1.ID, d.RevokeInput{}); err != nil {
					t.Fatal(err)
				}
			},
			act: func(t *testing.T, w *wakeWorld) error {
				_, err := w.svc.Revoke(t.Context(), w.admin, w.r1.ID, d.RevokeInput{})
				return err
			},
			wantErr: true,
		},
		{
			name: "approval wakes the machine and the request",
			act: func(t *testing.T, w *wakeWorld) error {
				approver := d.Actor{Kind: d.ActorToken, ID: "tok_ann000000", Name: "ann", RoleGrants: []d.RoleGrant{{Role: d.RoleApprover, Actions: d.RoleApprover.Actions(), Scope: d.ScopeAll}}}
				_, err := w.svc.Approve(t.Context(), approver, w.r3.ID, d.DecisionInput{})
				return err
			},
			want: []string{"dev", "r3"},
		},
		{
			name: "the agent's ack wakes the request, not its own watch",
			act: func(t *testing.T, w *wakeWorld) error {
				agent := d.Actor{Kind: d.ActorAgent, ID: string(w.machines["web"].ID), Name: "web"}
				return w.svc.Ack(t.Context(), agent, d.AckInput{Version: w.r1.Targets[0].Version})
			},
			want: []string{"r1"},
		},
		{
			name: "disabling a machine's policy wakes it and the requests whose grants it revoked",
			act: func(t *testing.T, w *wakeWorld) error {
				off := false
				_, err := w.svc.PolicySet(t.Context(), w.admin, "api", d.PolicyInput{Enabled: &off})
				return err
			},
			want: []string{"api", "r2"},
		},
		{
			// Every matching machine, and the others too: a selector
			// change re-sends every machine's state (reapplyAll).
			name: "a selector policy wakes every machine it may govern",
			act: func(t *testing.T, w *wakeWorld) error {
				_, err := w.svc.SelectorPolicySet(t.Context(), w.admin, d.PolicyInput{Selector: "env=prod", Rules: []d.RuleInput{{Port: 22}}})
				return err
			},
			want: []string{"api", "dev", "web"},
		},
		{
			name: "the expiry sweep wakes the requests whose grants it expired",
			before: func(t *testing.T, w *wakeWorld) {
				time.Sleep(31 * time.Minute)
			},
			act: func(t *testing.T, w *wakeWorld) error {
				_, err := w.svc.Expire(t.Context())
				return err
			},
			want: []string{"r1", "r2"},
		},
		{
			name: "a transaction that fails after writing wakes nobody",
			act: func(t *testing.T, w *wakeWorld) error {
				return w.svc.update(t.Context(), func(tx *store.Tx, now time.Time) error {
					if _, err := tx.MachineBumpVersion(w.machines["web"].ID); err != nil {
						return err
					}
					tg := w.r1.Targets[0]
					tg.Revoke("test", false)
					if err := tx.TargetUpdate(&tg); err != nil {
						return err
					}
					return errBoom
				})
			},
			wantErr: true,
		},
		{
			// As DB.Tx does on PostgreSQL: the first attempt's writes roll
			// back and the function runs again on a fresh transaction.
			name: "a retried transaction wakes what its last attempt changed, once",
			act: func(t *testing.T, w *wakeWorld) error {
				attempt := 0
				retrying := func(ctx context.Context, fn func(*store.Tx) error) error {
					err := w.db.Tx(ctx, func(tx *store.Tx) error {
						if err := fn(tx); err != nil {
							return err
						}
						return errBoom // a serialization failure at commit
					})
					if !errors.Is(err, errBoom) {
						t.Fatalf("first attempt: %v", err)
					}
					return w.db.Tx(ctx, fn)
				}
				return w.svc.write(t.Context(), retrying, func(tx *store.Tx, now time.Time) error {
					attempt++
					m := w.machines["web"]
					if attempt == 2 {
						m = w.machines["api"]
					}
					_, err := tx.MachineBumpVersion(m.ID)
					return err
				})
			},
			want: []string{"api"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWakeWorld(t)
				if tc.before != nil {
					tc.before(t, w)
				}
				woken := w.watch(t)
				err := tc.act(t, w)
				if (err != nil) != tc.wantErr {
					t.Fatalf("err = %v, want error %v", err, tc.wantErr)
				}
				if got := woken(); !slices.Equal(got, tc.want) {
					t.Errorf("woken %v, want %v", got, tc.want)
				}
			})
		})
	}
}
