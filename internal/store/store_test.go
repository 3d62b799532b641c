package store_test

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/pgtest"
	"github.com/drawbridge/drawbridge/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// database names a fresh, empty database: the arguments of store.Open.
type database func(t *testing.T) (dsn, dataDir string)

func TestSQLite(t *testing.T) {
	testContract(t, func(t *testing.T) (string, string) { return "", t.TempDir() })
}

func TestSQLiteExplicitDSN(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db := open(t, "sqlite://"+path, "")
	if got := db.Dialect(); got != store.SQLite {
		t.Errorf("Dialect() = %q, want %q", got, store.SQLite)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
}

func TestSQLiteFileMode(t *testing.T) {
	dir := t.TempDir()
	db := open(t, "", dir)
	mustTx(t, db, func(tx *store.Tx) error { return tx.MachineCreate(machine("web-1")) })
	files, _ := filepath.Glob(filepath.Join(dir, store.FileName+"*"))
	if len(files) == 0 {
		t.Fatal("no database file")
	}
	for _, f := range files { // the database and its -wal and -shm files
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}
}

func TestOpenInvalid(t *testing.T) {
	for _, dsn := range []string{"mysql://x", "sqlite://relative.db", "sqlite:///x.db?mode=ro"} {
		_, err := store.Open(t.Context(), dsn, t.TempDir(), nil)
		if d.ErrorKind(err) != d.Invalid {
			t.Errorf("Open(%q) = %v, want an Invalid error", dsn, err)
		}
	}
}

func TestPostgres(t *testing.T) {
	testContract(t, func(t *testing.T) (string, string) { return pgtest.DSN(t), "" })
}

// testContract checks the behaviour every dialect must have.
func testContract(t *testing.T, newDB database) {
	fresh := func(t *testing.T) *store.DB {
		dsn, dir := newDB(t)
		return open(t, dsn, dir)
	}
	t.Run("Reopen", func(t *testing.T) { testReopen(t, newDB) })
	t.Run("Machines", func(t *testing.T) { testMachines(t, fresh(t)) })
	t.Run("MachineBumpVersionConcurrent", func(t *testing.T) { testBumpConcurrent(t, fresh(t)) })
	t.Run("Policies", func(t *testing.T) { testPolicies(t, fresh(t)) })
	t.Run("Requests", func(t *testing.T) { testRequests(t, fresh(t)) })
	t.Run("RequestFilters", func(t *testing.T) { testRequestFilters(t, fresh(t)) })
	t.Run("Targets", func(t *testing.T) { testTargets(t, fresh(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, fresh(t)) })
	t.Run("JoinTokens", func(t *testing.T) { testJoinTokens(t, fresh(t)) })
	t.Run("JoinTokenUseConcurrent", func(t *testing.T) { testJoinTokenConcurrent(t, fresh(t)) })
	t.Run("Events", func(t *testing.T) { testEvents(t, fresh(t)) })
	t.Run("Rollback", func(t *testing.T) { testRollback(t, fresh(t)) })
	t.Run("Changed", func(t *testing.T) { testChanged(t, fresh(t)) })
	t.Run("ReadOnly", func(t *testing.T) { testReadOnly(t, fresh(t)) })
}

// Helpers.

var (
	// t0 has microseconds but no nanoseconds: times are stored to the microsecond.
	t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)

	opts = gocmp.Options{
		cmpopts.EquateEmpty(),
		gocmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
)

func open(t *testing.T, dsn, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), dsn, dir, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return db
}

func mustTx(t *testing.T, db *store.DB, fn func(*store.Tx) error) {
	t.Helper()
	if err := db.Tx(t.Context(), fn); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

func mustRead(t *testing.T, db *store.DB, fn func(*store.Tx) error) {
	t.Helper()
	if err := db.Read(t.Context(), fn); err != nil {
		t.Fatalf("Read: %v", err)
	}
}

// wantKind checks that err is a *drawbridge.Error of kind k.
func wantKind(t *testing.T, what string, err error, k d.Kind) {
	t.Helper()
	if err == nil || d.ErrorKind(err) != k {
		t.Errorf("%s: error %v, want kind %s", what, err, k)
	}
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if diff := gocmp.Diff(want, got, opts); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, diff)
	}
}

func machine(name string) *d.Machine {
	return &d.Machine{
		ID:     d.NewMachineID(),
		Name:   name,
		Labels: map[string]string{"env": "prod", "role": name},
		Inventory: d.Inventory{
			Hostname: name, OS: "linux", Kernel: "6.12", Addresses: []string{"192.0.2.1"},
			Listening: []d.Listener{{Protocol: d.TCP, Address: "0.0.0.0", Port: 22}},
			Firewall:  "nftables", AgentVersion: "v0.1.0",
		},
		EnrolledAt: t0,
	}
}

func createMachines(t *testing.T, db *store.DB, names ...string) []*d.Machine {
	t.Helper()
	var ms []*d.Machine
	mustTx(t, db, func(tx *store.Tx) error {
		for _, n := range names {
			m := machine(n)
			if err := tx.MachineCreate(m); err != nil {
				return err
			}
			ms = append(ms, m)
		}
		return nil
	})
	return ms
}

// request returns a request made at created with one target per machine ×
// port, all with status s.
func request(requester string, created time.Time, s d.Status, ms []*d.Machine, ports ...uint16) *d.Request {
	r := &d.Request{
		ID: d.NewRequestID(), Requester: requester, RequesterName: "Some One", Justification: "deploy",
		Duration: d.Duration(time.Hour), CreatedAt: created, Start: created, End: created.Add(time.Hour), Status: s,
	}
	for _, m := range ms {
		for _, p := range ports {
			r.Targets = append(r.Targets, d.Target{
				ID: d.NewTargetID(), RequestID: r.ID, MachineID: m.ID, MachineName: m.Name, Port: p, Protocol: d.TCP,
				Source: netip.MustParsePrefix("198.51.100.0/24"), End: r.End, Status: s, Version: 1,
			})
		}
	}
	return r
}

// Tests.

func testReopen(t *testing.T, newDB database) {
	dsn, dir := newDB(t)
	m := machine("web-1")
	mustTx(t, open(t, dsn, dir), func(tx *store.Tx) error { return tx.MachineCreate(m) })
	// Opening again runs the migrations again: they must find nothing to do
	// and leave the data alone.
	db := open(t, dsn, dir)
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Machine(m.ID)
		if err != nil {
			return err
		}
		diff(t, "machine after reopen", m, got)
		return nil
	})
}

func testMachines(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "web-2", "db-1", "web-10")
	web2, db1, web10 := ms[0], ms[1], ms[2]

	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Machine(web2.ID)
		if err != nil {
			return err
		}
		diff(t, "Machine", web2, got)
		got, err = tx.MachineByName("db-1")
		if err != nil {
			return err
		}
		diff(t, "MachineByName", db1, got)
		all, err := tx.Machines()
		if err != nil {
			return err
		}
		diff(t, "Machines (sorted by name)", []d.Machine{*db1, *web10, *web2}, all)

		_, err = tx.Machine("mch_missing00000")
		wantKind(t, "Machine(missing)", err, d.NotFound)
		_, err = tx.MachineByName("nope")
		wantKind(t, "MachineByName(missing)", err, d.NotFound)
		return nil
	})

	t.Run("Conflict", func(t *testing.T) {
		dupName := machine("web-2")
		dupID := machine("other")
		dupID.ID = web2.ID
		for name, m := range map[string]*d.Machine{"name": dupName, "id": dupID} {
			err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.MachineCreate(m) })
			wantKind(t, "MachineCreate(duplicate "+name+")", err, d.Conflict)
		}
		err := db.Tx(t.Context(), func(tx *store.Tx) error {
			m := *web10
			m.Name = "web-2"
			return tx.MachineUpdate(&m)
		})
		wantKind(t, "MachineUpdate(taken name)", err, d.Conflict)
	})

	t.Run("Update", func(t *testing.T) {
		want := *web2
		want.Name = "web-2b"
		want.Labels = map[string]string{"env": "dev"}
		want.Inventory.Kernel = "6.13"
		want.LastSeen = t0.Add(time.Minute)
		want.ApplyError = "boom"
		want.AppliedVersion = 7
		changed := want
		changed.EnrolledAt = t0.Add(time.Hour) // ignored
		changed.StateVersion = 99              // ignored
		mustTx(t, db, func(tx *store.Tx) error { return tx.MachineUpdate(&changed) })
		mustRead(t, db, func(tx *store.Tx) error {
			got, err := tx.Machine(web2.ID)
			diff(t, "after MachineUpdate", &want, got)
			return err
		})

		mustTx(t, db, func(tx *store.Tx) error { return tx.MachineTouch(web2.ID, t0.Add(2*time.Minute)) })
		want.LastSeen = t0.Add(2 * time.Minute)

		mustTx(t, db, func(tx *store.Tx) error {
			for i := 1; i <= 3; i++ {
				v, err := tx.MachineBumpVersion(web2.ID)
				if err != nil {
					return err
				}
				if v != int64(i) {
					t.Errorf("MachineBumpVersion #%d = %d, want %d", i, v, i)
				}
			}
			return nil
		})
		want.StateVersion = 3

		// The applied version only grows; the error is replaced.
		mustTx(t, db, func(tx *store.Tx) error { return tx.MachineSetApplied(web2.ID, 9, "") })
		mustTx(t, db, func(tx *store.Tx) error { return tx.MachineSetApplied(web2.ID, 8, "late failure") })
		want.AppliedVersion, want.ApplyError = 9, "late failure"
		mustRead(t, db, func(tx *store.Tx) error {
			got, err := tx.Machine(web2.ID)
			diff(t, "after touch, bump, set applied", &want, got)
			return err
		})
	})

	t.Run("NotFound", func(t *testing.T) {
		missing := machine("ghost")
		for name, fn := range map[string]func(*store.Tx) error{
			"MachineUpdate":      func(tx *store.Tx) error { return tx.MachineUpdate(missing) },
			"MachineTouch":       func(tx *store.Tx) error { return tx.MachineTouch(missing.ID, t0) },
			"MachineBumpVersion": func(tx *store.Tx) error { _, err := tx.MachineBumpVersion(missing.ID); return err },
			"MachineSetApplied":  func(tx *store.Tx) error { return tx.MachineSetApplied(missing.ID, 1, "") },
			"MachineDelete":      func(tx *store.Tx) error { return tx.MachineDelete(missing.ID) },
		} {
			wantKind(t, name, db.Tx(t.Context(), fn), d.NotFound)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		mustTx(t, db, func(tx *store.Tx) error { return tx.MachineDelete(db1.ID) })
		mustRead(t, db, func(tx *store.Tx) error {
			_, err := tx.Machine(db1.ID)
			wantKind(t, "Machine after delete", err, d.NotFound)
			return nil
		})
	})
}

func testBumpConcurrent(t *testing.T, db *store.DB) {
	m := createMachines(t, db, "busy")[0]
	const goroutines, bumps = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]bool{}
	for range goroutines {
		wg.Go(func() {
			for range bumps {
				var v int64
				err := db.Tx(t.Context(), func(tx *store.Tx) error {
					var err error
					v, err = tx.MachineBumpVersion(m.ID)
					return err
				})
				if err != nil {
					t.Errorf("MachineBumpVersion: %v", err)
					return
				}
				mu.Lock()
				if seen[v] {
					t.Errorf("version %d handed out twice", v)
				}
				seen[v] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Machine(m.ID)
		if err == nil && got.StateVersion != goroutines*bumps {
			t.Errorf("state version = %d, want %d", got.StateVersion, goroutines*bumps)
		}
		return err
	})
}

func testPolicies(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "a", "b")
	pa := &d.Policy{MachineID: ms[0].ID, Enabled: true, UpdatedAt: t0, UpdatedBy: "token:tok_admin",
		Rules: []d.PortRule{
			{Port: 22, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: d.Duration(3 * time.Hour)},
			{Port: 53, Protocol: d.Any, AllowedSources: []string{"10.0.0.0/8", "2001:db8::/32"}, MaxDuration: d.Duration(time.Hour)},
		}}
	pb := &d.Policy{MachineID: ms[1].ID, Enabled: false, UpdatedAt: t0, UpdatedBy: "system",
		Rules: []d.PortRule{{Port: 3389, Protocol: d.TCP, AllowedSources: []string{"*"}, MaxDuration: d.Duration(time.Hour)}}}
	mustTx(t, db, func(tx *store.Tx) error {
		if err := tx.PolicyPut(pa); err != nil {
			return err
		}
		return tx.PolicyPut(pb)
	})
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Policy(pa.MachineID)
		if err != nil {
			return err
		}
		diff(t, "Policy", pa, got)
		return nil
	})

	// Put again replaces.
	pa2 := *pa
	pa2.Enabled, pa2.Rules, pa2.UpdatedAt = false, pa.Rules[:1], t0.Add(time.Hour)
	mustTx(t, db, func(tx *store.Tx) error { return tx.PolicyPut(&pa2) })
	mustRead(t, db, func(tx *store.Tx) error {
		all, err := tx.Policies()
		if err != nil {
			return err
		}
		want := []d.Policy{pa2, *pb}
		if ms[1].ID < ms[0].ID {
			want = []d.Policy{*pb, pa2}
		}
		diff(t, "Policies after replace", want, all)
		return nil
	})

	err := db.Tx(t.Context(), func(tx *store.Tx) error {
		return tx.PolicyPut(&d.Policy{MachineID: "mch_missing00000", Rules: pa.Rules, UpdatedAt: t0})
	})
	wantKind(t, "PolicyPut(missing machine)", err, d.NotFound)

	// Deleting the machine deletes its policy.
	mustTx(t, db, func(tx *store.Tx) error { return tx.MachineDelete(ms[0].ID) })
	mustRead(t, db, func(tx *store.Tx) error {
		_, err := tx.Policy(ms[0].ID)
		wantKind(t, "Policy after machine delete", err, d.NotFound)
		return nil
	})

	// A machine's own policy can be deleted, once.
	mustTx(t, db, func(tx *store.Tx) error { return tx.PolicyDelete(ms[1].ID) })
	err = db.Tx(t.Context(), func(tx *store.Tx) error { return tx.PolicyDelete(ms[1].ID) })
	wantKind(t, "PolicyDelete(none)", err, d.NotFound)
	mustRead(t, db, func(tx *store.Tx) error {
		_, err := tx.Policy(ms[1].ID)
		wantKind(t, "Policy after PolicyDelete", err, d.NotFound)
		return nil
	})

	// Selector policies keep their priority.
	sp := &d.Policy{ID: "pol_0123456789abcdef", Selector: "env=prod", Priority: -7, Enabled: true, UpdatedAt: t0, UpdatedBy: "system", Rules: pa.Rules}
	mustTx(t, db, func(tx *store.Tx) error { return tx.SelectorPolicyPut(sp) })
	sp2 := *sp
	sp2.Priority = 42
	mustTx(t, db, func(tx *store.Tx) error { return tx.SelectorPolicyPut(&sp2) })
	mustRead(t, db, func(tx *store.Tx) error {
		all, err := tx.SelectorPolicies()
		if err != nil {
			return err
		}
		diff(t, "SelectorPolicies", []d.Policy{sp2}, all)
		return nil
	})
}

func testRequests(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "zeta", "alpha")
	r := request("token:tok_alice", t0, d.StatusActive, ms, 443, 22)
	r.Targets[0].Protocol = d.UDP // zeta 443/udp
	r.Targets[1].AppliedAt = t0.Add(time.Second)
	r.Targets[1].ApplyLatency = d.Duration(1234 * time.Microsecond)
	r.Targets[2].Source = netip.MustParsePrefix("2001:db8::1/128")
	r.Targets[3].Terminate, r.Targets[3].TerminatedAt = true, t0.Add(time.Minute)
	mustTx(t, db, func(tx *store.Tx) error { return tx.RequestCreate(r) })

	// Targets come back ordered by machine name, port, protocol.
	want := *r
	want.Targets = []d.Target{r.Targets[3], r.Targets[2], r.Targets[1], r.Targets[0]}
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Request(r.ID)
		if err != nil {
			return err
		}
		diff(t, "Request", &want, got)
		_, err = tx.Request("req_missing000000")
		wantKind(t, "Request(missing)", err, d.NotFound)
		return nil
	})

	err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.RequestCreate(r) })
	wantKind(t, "RequestCreate(duplicate)", err, d.Conflict)

	// Update the request and a target.
	want.Status, want.Start, want.End = d.StatusRevoked, t0.Add(time.Minute), t0.Add(2*time.Minute)
	tg := &want.Targets[0]
	tg.Status, tg.Reason, tg.End, tg.Version = d.StatusRevoked, "no longer needed", t0.Add(2*time.Minute), 5
	tg.AppliedAt, tg.ApplyLatency, tg.Terminate, tg.TerminatedAt = t0.Add(3*time.Second), d.Duration(time.Second), true, t0.Add(4*time.Minute)
	mustTx(t, db, func(tx *store.Tx) error {
		if err := tx.RequestUpdate(&want); err != nil {
			return err
		}
		return tx.TargetUpdate(tg)
	})
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Request(r.ID)
		diff(t, "Request after updates", &want, got)
		return err
	})

	err = db.Tx(t.Context(), func(tx *store.Tx) error { return tx.RequestUpdate(&d.Request{ID: "req_missing000000"}) })
	wantKind(t, "RequestUpdate(missing)", err, d.NotFound)
	err = db.Tx(t.Context(), func(tx *store.Tx) error { return tx.TargetUpdate(&d.Target{ID: "tgt_missing000000"}) })
	wantKind(t, "TargetUpdate(missing)", err, d.NotFound)
}

func testRequestFilters(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "m1", "m2")
	m1, m2 := ms[:1], ms[1:]
	// Created one minute apart; the last is the newest.
	reqs := []*d.Request{
		request("token:tok_alice", t0, d.StatusExpired, m1, 22),
		request("token:tok_bob", t0.Add(1*time.Minute), d.StatusActive, m2, 22),
		request("token:tok_alice", t0.Add(2*time.Minute), d.StatusPending, ms, 22),
		request("token:tok_alice", t0.Add(3*time.Minute), d.StatusDenied, m2, 22),
		request("token:tok_bob", t0.Add(4*time.Minute), d.StatusApplying, m1, 22),
	}
	// One request with mixed targets: one ended, one still open.
	reqs[2].Targets[0].Status = d.StatusRevoked
	reqs[3].RequesterPerson = "user:alice@example.com"
	reqs[4].RequesterPerson = "user:alice@example.com" // bob's token, made for alice
	reqs[2].PendingUntil = t0.Add(time.Hour)
	mustTx(t, db, func(tx *store.Tx) error {
		for _, r := range reqs {
			if err := tx.RequestCreate(r); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(rs []d.Request) []d.RequestID {
		var out []d.RequestID
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.RequestFilter
		want []int // indices into reqs, in order
	}{
		{"all newest first", store.RequestFilter{}, []int{4, 3, 2, 1, 0}},
		{"requester", store.RequestFilter{Requester: "token:tok_alice"}, []int{3, 2, 0}},
		{"machine", store.RequestFilter{MachineID: ms[0].ID}, []int{4, 2, 0}},
		{"open", store.RequestFilter{Open: true}, []int{4, 2, 1}},
		{"open on machine", store.RequestFilter{Open: true, MachineID: ms[1].ID}, []int{2, 1}},
		{"requester and open", store.RequestFilter{Requester: "token:tok_bob", Open: true}, []int{4, 1}},
		{"limit", store.RequestFilter{Limit: 2}, []int{4, 3}},
		{"nothing", store.RequestFilter{Requester: "token:tok_nobody"}, nil},
		{"visible: own or on a machine", store.RequestFilter{Visible: &store.Visibility{Requester: "token:tok_bob", Machines: []d.MachineID{ms[0].ID}}}, []int{4, 2, 1, 0}},
		{"visible: no machine", store.RequestFilter{Visible: &store.Visibility{Requester: "token:tok_bob"}}, []int{4, 1}},
		{"visible counts before the limit", store.RequestFilter{Visible: &store.Visibility{Requester: "token:tok_nobody", Machines: []d.MachineID{ms[0].ID}}, Limit: 2}, []int{4, 2}},
		{"all on", store.RequestFilter{AllOn: []d.MachineID{ms[1].ID}}, []int{3, 1}},
		{"all on nothing", store.RequestFilter{AllOn: []d.MachineID{}}, nil},
		{"not a person", store.RequestFilter{NotPerson: "user:alice@example.com"}, []int{2, 1, 0}},
		{"not a subject", store.RequestFilter{NotPerson: "token:tok_alice"}, []int{4, 1}},
		{"before", store.RequestFilter{Before: reqs[2], Limit: 2}, []int{1, 0}},
		{"awaiting, not about to expire", store.RequestFilter{Awaiting: true, PendingAfter: t0.Add(time.Hour)}, nil},
		{"awaiting, in time", store.RequestFilter{Awaiting: true, PendingAfter: t0.Add(time.Hour - time.Second)}, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []d.Request
			mustRead(t, db, func(tx *store.Tx) error {
				var err error
				got, err = tx.Requests(tc.f)
				return err
			})
			var want []d.RequestID
			for _, i := range tc.want {
				want = append(want, reqs[i].ID)
			}
			diff(t, "request IDs", want, ids(got))
		})
	}
	// Approvals keep the person behind the approver.
	ap := d.Approval{Approver: "token:tok_ann", ApproverName: "ann", ApproverPerson: "user:ann@example.com", Kind: d.ApprovalForRequest, Decision: d.DecisionApprove, Time: t0}
	mustTx(t, db, func(tx *store.Tx) error { return tx.ApprovalAppend(reqs[2].ID, ap) })
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Request(reqs[2].ID)
		if err == nil {
			diff(t, "approvals", []d.Approval{ap}, got.Approvals)
			diff(t, "requester person", "", got.RequesterPerson)
		}
		got, err = tx.Request(reqs[3].ID)
		if err == nil {
			diff(t, "requester person", "user:alice@example.com", got.RequesterPerson)
		}
		return err
	})
	// Listed requests carry their targets, like Request.
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Requests(store.RequestFilter{})
		if err != nil {
			return err
		}
		for _, r := range got {
			one, err := tx.Request(r.ID)
			if err != nil {
				return err
			}
			diff(t, "Requests vs Request for "+string(r.ID), one, &r)
		}
		return nil
	})
}

func testTargets(t *testing.T, db *store.DB) {
	ms := createMachines(t, db, "m1", "m2")
	active := request("token:tok_a", t0, d.StatusActive, ms, 22) // ends t0+1h
	applying := request("token:tok_a", t0.Add(time.Minute), d.StatusApplying, ms, 80)
	applying.Targets[0].Version, applying.Targets[1].Version = 3, 4
	later := request("token:tok_a", t0.Add(2*time.Hour), d.StatusActive, ms[:1], 443) // ends t0+3h
	expired := request("token:tok_a", t0.Add(-2*time.Hour), d.StatusExpired, ms[:1], 8080)
	mustTx(t, db, func(tx *store.Tx) error {
		for _, r := range []*d.Request{active, applying, later, expired} {
			if err := tx.RequestCreate(r); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(ts []d.Target) []d.TargetID {
		var out []d.TargetID
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	sorted := func(ts ...d.Target) []d.TargetID { // in the order the store returns: end, then ID
		ts = slices.Clone(ts)
		slices.SortFunc(ts, func(a, b d.Target) int {
			return cmp.Or(a.End.Compare(b.End), strings.Compare(string(a.ID), string(b.ID)))
		})
		return ids(ts)
	}
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.TargetsByMachine(ms[0].ID)
		if err != nil {
			return err
		}
		diff(t, "TargetsByMachine(m1)", sorted(expired.Targets[0], active.Targets[0], applying.Targets[0], later.Targets[0]), ids(got))
		got, err = tx.TargetsByMachine(ms[0].ID, d.StatusActive, d.StatusApplying)
		if err != nil {
			return err
		}
		diff(t, "TargetsByMachine(m1, active, applying)", sorted(active.Targets[0], applying.Targets[0], later.Targets[0]), ids(got))
		diff(t, "TargetsByMachine full value", applying.Targets[0], got[1])

		// Due at exactly the end of the first two requests' targets (t0+1h),
		// but not the applying ones (t0+1h1m) or the later one.
		got, err = tx.TargetsDue(t0.Add(time.Hour))
		if err != nil {
			return err
		}
		diff(t, "TargetsDue(t0+1h)", sorted(active.Targets...), ids(got))
		got, err = tx.TargetsDue(t0.Add(2 * time.Hour))
		if err != nil {
			return err
		}
		diff(t, "TargetsDue(t0+2h)", sorted(append(active.Targets, applying.Targets...)...), ids(got))
		got, err = tx.TargetsDue(t0)
		if err != nil {
			return err
		}
		diff(t, "TargetsDue(t0)", []d.TargetID(nil), ids(got))

		got, err = tx.TargetsApplying(ms[0].ID, 2)
		if err != nil {
			return err
		}
		diff(t, "TargetsApplying(m1, 2)", []d.TargetID(nil), ids(got))
		got, err = tx.TargetsApplying(ms[0].ID, 3)
		if err != nil {
			return err
		}
		diff(t, "TargetsApplying(m1, 3)", []d.TargetID{applying.Targets[0].ID}, ids(got))
		got, err = tx.TargetsApplying(ms[1].ID, 10)
		if err != nil {
			return err
		}
		diff(t, "TargetsApplying(m2, 10)", []d.TargetID{applying.Targets[1].ID}, ids(got))
		return nil
	})
}

func testTokens(t *testing.T, db *store.DB) {
	tok := &d.Token{ID: d.NewTokenID(), Name: "ci", Role: d.RoleRequester, Hash: d.HashSecret("s1"),
		CreatedAt: t0, CreatedBy: "token:tok_admin", ExpiresAt: t0.Add(24 * time.Hour), Owner: "user:alice@example.com"}
	forever := &d.Token{ID: d.NewTokenID(), Name: "admin", Role: d.RoleAdmin, Hash: d.HashSecret("s2"),
		CreatedAt: t0.Add(time.Second), CreatedBy: "system"}
	mustTx(t, db, func(tx *store.Tx) error {
		if err := tx.TokenCreate(tok); err != nil {
			return err
		}
		return tx.TokenCreate(forever)
	})
	err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.TokenCreate(tok) })
	wantKind(t, "TokenCreate(duplicate)", err, d.Conflict)

	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Token(tok.ID)
		if err != nil {
			return err
		}
		diff(t, "Token", tok, got)
		all, err := tx.Tokens()
		if err != nil {
			return err
		}
		diff(t, "Tokens", []d.Token{*tok, *forever}, all)
		_, err = tx.Token("tok_missing000000")
		wantKind(t, "Token(missing)", err, d.NotFound)
		return nil
	})

	mustTx(t, db, func(tx *store.Tx) error { return tx.TokenRevoke(tok.ID, t0.Add(time.Hour)) })
	err = db.Tx(t.Context(), func(tx *store.Tx) error { return tx.TokenRevoke(tok.ID, t0.Add(2*time.Hour)) })
	wantKind(t, "TokenRevoke(again)", err, d.Conflict)
	err = db.Tx(t.Context(), func(tx *store.Tx) error { return tx.TokenRevoke("tok_missing000000", t0) })
	wantKind(t, "TokenRevoke(missing)", err, d.NotFound)
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.Token(tok.ID)
		if err == nil && !got.RevokedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("RevokedAt = %v, want the first revocation %v", got.RevokedAt, t0.Add(time.Hour))
		}
		return err
	})
}

func joinToken(maxUses int) *d.JoinToken {
	return &d.JoinToken{ID: d.NewJoinTokenID(), Hash: d.HashSecret("secret"), CreatedAt: t0, CreatedBy: "token:tok_admin",
		ExpiresAt: t0.Add(time.Hour), MaxUses: maxUses, Labels: map[string]string{"env": "prod"}}
}

func testJoinTokens(t *testing.T, db *store.DB) {
	j := joinToken(2)
	mustTx(t, db, func(tx *store.Tx) error { return tx.JoinTokenCreate(j) })
	err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.JoinTokenCreate(j) })
	wantKind(t, "JoinTokenCreate(duplicate)", err, d.Conflict)
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.JoinToken(j.ID)
		diff(t, "JoinToken", j, got)
		return err
	})

	use := func(id d.JoinTokenID, now time.Time) error {
		return db.Tx(t.Context(), func(tx *store.Tx) error { return tx.JoinTokenUse(id, now) })
	}
	for i := range 2 {
		if err := use(j.ID, t0.Add(time.Minute)); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	err = use(j.ID, t0.Add(time.Minute))
	wantKind(t, "JoinTokenUse(used up)", err, d.Conflict)

	fresh := joinToken(5)
	mustTx(t, db, func(tx *store.Tx) error { return tx.JoinTokenCreate(fresh) })
	wantKind(t, "JoinTokenUse(at expiry)", use(fresh.ID, fresh.ExpiresAt), d.Conflict)
	wantKind(t, "JoinTokenUse(missing)", use("jtk_missing000000", t0), d.NotFound)
	_ = db.Read(t.Context(), func(tx *store.Tx) error {
		_, err := tx.JoinToken("jtk_missing000000")
		wantKind(t, "JoinToken(missing)", err, d.NotFound)
		return nil
	})

	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.JoinToken(j.ID)
		if err == nil && got.Uses != 2 {
			t.Errorf("uses = %d, want 2", got.Uses)
		}
		got, err = tx.JoinToken(fresh.ID)
		if err == nil && got.Uses != 0 {
			t.Errorf("expired token: uses = %d, want 0", got.Uses)
		}
		return err
	})

	// Listed newest first; a revoked token expires at once.
	later := joinToken(1)
	later.CreatedAt = t0.Add(time.Second)
	mustTx(t, db, func(tx *store.Tx) error { return tx.JoinTokenCreate(later) })
	mustRead(t, db, func(tx *store.Tx) error {
		all, err := tx.JoinTokens()
		if err == nil && (len(all) != 3 || all[0].ID != later.ID) {
			t.Errorf("JoinTokens = %v, want 3, %s first", all, later.ID)
		}
		return err
	})
	revoke := func(id d.JoinTokenID, now time.Time) error {
		return db.Tx(t.Context(), func(tx *store.Tx) error { return tx.JoinTokenRevoke(id, now) })
	}
	at := t0.Add(2 * time.Minute)
	if err := revoke(later.ID, at); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "JoinTokenUse(revoked)", use(later.ID, at), d.Conflict)
	wantKind(t, "JoinTokenRevoke(again)", revoke(later.ID, at), d.Conflict)
	wantKind(t, "JoinTokenRevoke(used up)", revoke(j.ID, at), d.Conflict)
	wantKind(t, "JoinTokenRevoke(missing)", revoke("jtk_missing000000", at), d.NotFound)
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.JoinToken(later.ID)
		if err == nil && !got.ExpiresAt.Equal(at) {
			t.Errorf("revoked token expires at %s, want %s", got.ExpiresAt, at)
		}
		return err
	})
}

func testJoinTokenConcurrent(t *testing.T, db *store.DB) {
	const maxUses, enrollments = 3, 12
	j := joinToken(maxUses)
	mustTx(t, db, func(tx *store.Tx) error { return tx.JoinTokenCreate(j) })
	var wg sync.WaitGroup
	errs := make([]error, enrollments)
	for i := range enrollments {
		wg.Go(func() {
			errs[i] = db.Tx(t.Context(), func(tx *store.Tx) error {
				// What an enrollment does: check, use, record.
				if _, err := tx.JoinToken(j.ID); err != nil {
					return err
				}
				if err := tx.JoinTokenUse(j.ID, t0); err != nil {
					return err
				}
				return tx.MachineCreate(machine(fmt.Sprintf("m%d", i)))
			})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case d.ErrorKind(err) != d.Conflict:
			t.Errorf("enrollment: %v, want success or Conflict", err)
		}
	}
	if ok != maxUses {
		t.Errorf("%d enrollments succeeded, want %d", ok, maxUses)
	}
	mustRead(t, db, func(tx *store.Tx) error {
		got, err := tx.JoinToken(j.ID)
		if err == nil && got.Uses != maxUses {
			t.Errorf("uses = %d, want %d", got.Uses, maxUses)
		}
		all, err := tx.Machines()
		if err == nil && len(all) != maxUses {
			t.Errorf("%d machines enrolled, want %d", len(all), maxUses)
		}
		return err
	})
}

func testEvents(t *testing.T, db *store.DB) {
	evs := []*d.Event{
		{Time: t0, Actor: "token:tok_alice", ActorName: "alice", ActorSource: "192.0.2.1", Action: d.EvRequestCreated,
			Target: "req_one000000000", Result: d.ResultSuccess, Reason: "deploy", RequestID: "req_one000000000", Details: `{"ports":[22]}`},
		{Time: t0.Add(time.Minute), Actor: "system", ActorName: "system", Action: d.EvRequestApplied,
			Target: "req_one000000000", Result: d.ResultSuccess, RequestID: "req_one000000000"},
		{Time: t0.Add(2 * time.Minute), Actor: "token:tok_admin", ActorName: "admin", Action: d.EvTokenCreated,
			Target: "tok_new000000000", Result: d.ResultSuccess},
		{Time: t0.Add(3 * time.Minute), Actor: "agent:mch_m0000000", ActorName: "web-1", Action: d.EvMachineApplyFailed,
			Target: "mch_m0000000", Result: d.ResultFailure, Reason: "nft: no such table"},
		{Time: t0.Add(4 * time.Minute), Actor: "system", ActorName: "system", Action: d.EvRequestExpired,
			Target: "req_one000000000", Result: d.ResultSuccess, RequestID: "req_one000000000"},
	}
	mustTx(t, db, func(tx *store.Tx) error {
		for _, e := range evs {
			if err := tx.EventAppend(e); err != nil {
				return err
			}
		}
		return nil
	})
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("event IDs not increasing: %d then %d", evs[i-1].ID, evs[i].ID)
		}
	}
	want := func(idx ...int) []d.Event {
		var out []d.Event
		for _, i := range idx {
			out = append(out, *evs[i])
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want []d.Event
	}{
		{"all", store.EventFilter{}, want(0, 1, 2, 3, 4)},
		{"after", store.EventFilter{AfterID: evs[2].ID}, want(3, 4)},
		{"since until", store.EventFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, want(1, 2)},
		{"action", store.EventFilter{Action: d.EvTokenCreated}, want(2)},
		{"target", store.EventFilter{Target: "req_one000000000"}, want(0, 1, 4)},
		{"actor", store.EventFilter{Actor: "system"}, want(1, 4)},
		{"request", store.EventFilter{RequestID: "req_one000000000", AfterID: evs[0].ID}, want(1, 4)},
		{"limit", store.EventFilter{Limit: 2}, want(0, 1)},
		{"nothing", store.EventFilter{Action: "no.such"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustRead(t, db, func(tx *store.Tx) error {
				got, err := tx.Events(tc.f)
				diff(t, "Events", tc.want, got)
				return err
			})
		})
	}
}

func testRollback(t *testing.T, db *store.DB) {
	errStop := errors.New("stop")
	m := machine("gone")
	j := joinToken(1)
	r := request("token:tok_a", t0, d.StatusPending, []*d.Machine{m}, 22)
	err := db.Tx(t.Context(), func(tx *store.Tx) error {
		if err := tx.MachineCreate(m); err != nil {
			return err
		}
		if err := tx.PolicyPut(&d.Policy{MachineID: m.ID, Enabled: true, UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.RequestCreate(r); err != nil {
			return err
		}
		if err := tx.TokenCreate(&d.Token{ID: d.NewTokenID(), Hash: []byte{1}, CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.JoinTokenCreate(j); err != nil {
			return err
		}
		if err := tx.EventAppend(&d.Event{Time: t0, Action: d.EvMachineEnrolled}); err != nil {
			return err
		}
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Tx = %v, want fn's error", err)
	}
	mustRead(t, db, func(tx *store.Tx) error {
		var n int
		ms, err := tx.Machines()
		n += len(ms)
		ps, err2 := tx.Policies()
		n += len(ps)
		rs, err3 := tx.Requests(store.RequestFilter{})
		n += len(rs)
		ts, err4 := tx.Tokens()
		n += len(ts)
		ts2, err5 := tx.TargetsByMachine(m.ID)
		n += len(ts2)
		es, err6 := tx.Events(store.EventFilter{})
		n += len(es)
		_, err7 := tx.JoinToken(j.ID)
		if err := errors.Join(err, err2, err3, err4, err5, err6); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("%d rows left after rollback", n)
		}
		wantKind(t, "JoinToken", err7, d.NotFound)
		return nil
	})
}

func testReadOnly(t *testing.T, db *store.DB) {
	err := db.Read(t.Context(), func(tx *store.Tx) error { return tx.MachineCreate(machine("nope")) })
	if err == nil {
		t.Fatal("write in Read succeeded")
	}
	mustRead(t, db, func(tx *store.Tx) error {
		ms, err := tx.Machines()
		if len(ms) != 0 {
			t.Errorf("write in Read left %d machines", len(ms))
		}
		return err
	})
}
