// Package pgtest runs a throwaway PostgreSQL cluster for tests.
//
// The cluster is started lazily, once per test binary, by the first call to
// DSN: initdb into a fresh temporary directory, then the postgres server
// listening on a unix socket in that directory only (no TCP port), with
// durability turned off (fsync, synchronous_commit, full_page_writes) because
// the data is thrown away. Every DSN call gets its own empty database.
//
// A test package that uses DSN must call Main from its TestMain, which stops
// the server and removes the directory after the tests:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// As a second line of defence the server is started as a direct child of the
// test binary with a parent-death signal, so it also goes away if the binary
// is killed (for example by go test's -timeout).
//
// Prerequisites: the PostgreSQL 15 server binaries in /usr/lib/postgresql/15/bin
// (Debian: apt-get install postgresql-15). initdb refuses to run as root, so
// when the tests run as root the cluster runs as the "postgres" OS user;
// otherwise it runs as the current user. These are test tier "postgres" (see
// package testtier): when a prerequisite is missing DSN skips the test with
// the reason, unless DRAWBRIDGE_TEST_REQUIRE lists postgres, in which case it
// fails it.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/drawbridge/drawbridge/internal/testtier"
)

// BinDir is where the PostgreSQL server binaries are expected.
const BinDir = "/usr/lib/postgresql/15/bin"

var (
	mainCalled atomic.Bool
	dbSeq      atomic.Int64

	once    sync.Once
	running *cluster // set by once when the cluster started
	skip    string   // set by once when a prerequisite is missing
	failure error    // set by once when starting failed for another reason
)

// cluster is one running PostgreSQL server.
type cluster struct {
	dir    string // temporary root: data/, server.log and the unix socket
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd.Wait returns
	admin  *sql.DB       // connection to the "postgres" database, for CREATE DATABASE
}

// Main runs the tests of m and then stops the cluster, if one was started.
// Call it from TestMain; a package that calls DSN without it fails. It is
// safe to call when no test uses PostgreSQL.
func Main(m *testing.M) {
	mainCalled.Store(true)
	m.Run() // since Go 1.15 the testing package exits with m.Run's code when TestMain returns
	stop()
}

// DSN returns a connection string for a new, empty database in the test
// cluster, starting the cluster on first use. The string has the form
// postgres://postgres@/t_N?host=<socket dir>&sslmode=disable and works with
// pgx. The database is dropped when t ends (forcibly, so connections left
// open do not block it). DSN skips t when a prerequisite is missing (see the
// package comment) and is safe for concurrent use.
func DSN(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: call pgtest.Main(m) from TestMain so the PostgreSQL cluster is stopped after the tests")
	}
	once.Do(start)
	switch {
	case skip != "":
		testtier.Missing(t, testtier.Postgres, "(pgtest): "+skip)
	case failure != nil:
		t.Fatalf("pgtest: %v", failure)
	}

	name := fmt.Sprintf("t_%d", dbSeq.Add(1))
	ctx := context.Background() // not t.Context: the cleanup below runs after it is cancelled
	if _, err := running.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := running.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return running.dsn(name)
}

func (c *cluster) dsn(db string) string {
	return "postgres://postgres@/" + db + "?host=" + url.QueryEscape(c.dir) + "&sslmode=disable"
}

// start initialises and starts the cluster, setting running, skip or failure.
func start() {
	postgres := filepath.Join(BinDir, "postgres")
	initdb := filepath.Join(BinDir, "initdb")
	for _, bin := range []string{postgres, initdb} {
		if _, err := os.Stat(bin); err != nil {
			skip = fmt.Sprintf("PostgreSQL server binaries not found (%s missing; apt-get install postgresql-15)", bin)
			return
		}
	}

	// initdb and postgres refuse to run as root: run them as the postgres
	// OS user then. Any other user runs them as itself.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skip = "running as root and there is no postgres OS user to run initdb as"
			return
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			failure = fmt.Errorf("postgres OS user: %w", err)
			return
		}
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}

	// A short path under the system temp directory: the socket path
	// (dir/.s.PGSQL.5432) must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "drawbridge-pg-")
	if err != nil {
		failure = err
		return
	}
	c, err := startIn(dir, cred, initdb, postgres)
	if err != nil {
		failure = err
		if c != nil {
			c.stop()
		}
		os.RemoveAll(dir)
		return
	}
	running = c
}

func startIn(dir string, cred *syscall.Credential, initdb, postgres string) (*cluster, error) {
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initCmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initCmd.Dir = dir // the postgres user cannot enter root's working directory
	initCmd.Env = append(os.Environ(), "LC_ALL=C")
	initCmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initCmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy of the descriptor
	cmd := exec.Command(postgres, "-D", data,
		"-h", "", // no TCP listener at all
		"-k", dir, // unix socket directory
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Go sets the parent-death signal after switching credentials, so it
	// survives the switch: if the test binary dies, postgres gets a fast
	// shutdown request.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &cluster{dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() { // owned by stop, which waits for exited
		cmd.Wait()
		close(c.exited)
	}()

	c.admin, err = sql.Open("pgx", c.dsn("postgres"))
	if err != nil {
		return c, err
	}
	// Wait for the server to accept connections: poll, bounded.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = c.admin.PingContext(ctx)
		cancel()
		if err == nil {
			return c, nil
		}
		select {
		case <-c.exited:
			return c, fmt.Errorf("postgres exited during startup: %v\n%s", cmd.ProcessState, readLog(dir))
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("postgres did not accept connections within 30s: %w\n%s", err, readLog(dir))
		}
	}
}

func readLog(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
	return string(b)
}

// stop stops the running cluster, if any, and removes its directory.
func stop() {
	if running == nil {
		return
	}
	running.stop()
	os.RemoveAll(running.dir)
	running = nil
}

// stop asks the server for a fast shutdown and waits for it, killing it if
// it takes longer than ten seconds.
func (c *cluster) stop() {
	if c.admin != nil {
		c.admin.Close()
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}
