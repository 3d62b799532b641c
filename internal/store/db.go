// Package store keeps Drawbridge's state in SQLite or PostgreSQL behind one
// type, DB. Every read and write happens inside a transaction (DB.Tx,
// DB.Read), through the methods of Tx, which take and return the root
// package's values.
//
// Conventions it imposes:
//
//   - Errors are classified here, once: a missing row is a *drawbridge.Error
//     of Kind NotFound, a unique-key violation (or a state the change does
//     not allow, such as a used-up join token) is Conflict, persistent
//     contention is Unavailable; everything else is wrapped as
//     "store: op: cause" and is Internal to callers.
//   - Times are stored as unix microseconds UTC, so they come back truncated
//     to the microsecond, in UTC; the zero time is stored as 0 (and so is the
//     Unix epoch itself, which reads back as the zero time). Durations are
//     stored in nanoseconds.
//   - SQLite (the default, modernc.org/sqlite, pure Go) runs in WAL mode with
//     one writer connection, so read-write transactions are serialised in
//     the process, and a pool of read-only connections. PostgreSQL
//     read-write transactions are SERIALIZABLE and are retried on
//     serialization failures and deadlocks, so both dialects give callers
//     the same guarantee: a DB.Tx runs as if alone.
//   - The schema is migrated on Open by goose from the SQL files embedded
//     from migrations/<dialect>. The two trees are written side by side;
//     TestMigrationsAgree fails when their tables, columns (type class,
//     nullability) or indices differ.
//   - A full disk ("database or disk is full": SQLite's SQLITE_FULL,
//     PostgreSQL's class 53 disk_full) is Unavailable, and the DB reports it
//     (Full, Ping) until writes can commit again. On SQLite a reserve file
//     (ReserveFile, DefaultReserve bytes) is kept beside the database: when
//     the disk fills up it is deleted, so that revocations (TxRevocation)
//     still commit, while other writes are refused up front and keep the
//     freed space for them. Once the disk has room again the reserve is
//     written back and writes resume.
//   - A Tx records what its writes changed that someone may wait for
//     (Tx.Changed, changes.go): machines whose state version it bumped,
//     requests whose row, targets or approvals it wrote. The record belongs
//     to one attempt, so a retried transaction starts afresh; package
//     control wakes exactly those after a successful commit.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	d "github.com/drawbridge/drawbridge"
)

// Dialects, as returned by DB.Dialect.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// FileName is the SQLite database file Open uses in the data directory when
// no DSN is given.
const FileName = "drawbridge.db"

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// ReserveFile is the name of the reserve file Open keeps beside a SQLite
// database.
const ReserveFile = "drawbridge.reserve"

// DefaultReserve is the size of the reserve file: room for many thousands
// of revocations and their audit events.
const DefaultReserve = 8 << 20

// DB is an open database. It is safe for concurrent use.
type DB struct {
	dialect string
	write   *sql.DB // SQLite: the single writer connection; PostgreSQL: the pool
	read    *sql.DB // SQLite: read-only connections; PostgreSQL: the same pool as write
	log     *slog.Logger
	path    string // SQLite: the database file

	// Disk full (see the package comment).
	reserve     string // SQLite: the reserve file's path; "" for PostgreSQL
	reserveSize int64
	full        atomic.Bool  // writes cannot commit (SQLite: the reserve is released)
	fullAt      atomic.Int64 // unix nanoseconds of the last disk-full error
	releases    atomic.Int64 // how often the reserve was released
	fix         sync.Mutex   // one reserve operation at a time
	lastTry     time.Time    // guarded by fix: the last attempt to restore the reserve
}

// Option changes how Open opens a database.
type Option func(*DB)

// WithReserve sets the size of the SQLite reserve file (default
// DefaultReserve); 0 keeps no reserve.
func WithReserve(bytes int64) Option {
	return func(db *DB) { db.reserveSize = bytes }
}

// Open opens the database named by dsn and brings its schema up to date.
//
//   - "" opens (creating it, mode 0600) the SQLite file FileName in dataDir,
//     creating dataDir (mode 0700) if needed;
//   - "sqlite:///abs/path.db" opens that SQLite file;
//   - "postgres://…" or "postgresql://…" opens PostgreSQL through pgx.
//
// An unusable DSN is an Invalid error. Migrations run under goose; on
// PostgreSQL they hold a session advisory lock, so servers starting at once
// do not race. log may be nil. On SQLite, Open also creates the reserve
// file (ReserveFile in the database's directory); when the disk has no
// room for it, the DB starts out Full.
func Open(ctx context.Context, dsn, dataDir string, log *slog.Logger, opts ...Option) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var db *DB
	var err error
	switch {
	case dsn == "":
		if dataDir == "" {
			return nil, d.FieldErrorf("dsn", "either a database DSN or a data directory is required")
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: open: %w", err)
		}
		db, err = openSQLite(filepath.Join(dataDir, FileName), log)
	case strings.HasPrefix(dsn, "sqlite:"):
		u, perr := url.Parse(dsn)
		if perr != nil || u.Host != "" || !filepath.IsAbs(u.Path) || u.RawQuery != "" {
			return nil, d.FieldErrorf("dsn", "a SQLite DSN must look like sqlite:///absolute/path.db")
		}
		db, err = openSQLite(u.Path, log)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err = openPostgres(dsn, log)
	default:
		return nil, d.FieldErrorf("dsn", "unsupported database DSN: want empty (SQLite in the data directory), sqlite:///path.db or postgres://…")
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.chainPending(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.reserveSize = DefaultReserve
	for _, o := range opts {
		o(db)
	}
	if db.dialect == SQLite && db.reserveSize > 0 {
		db.reserve = filepath.Join(filepath.Dir(db.path), ReserveFile)
		os.Remove(db.reserve + ".probe") // left by a crash while restoring
		if err := db.writeReserve(); err != nil {
			db.full.Store(true)
			db.log.Error("database disk full at start: no room for the reserve; only revocations are accepted until space is freed",
				"reserve", db.reserve, "bytes", db.reserveSize, "err", err)
		}
	}
	return db, nil
}

func openSQLite(path string, log *slog.Logger) (*DB, error) {
	if strings.Contains(path, "?") {
		return nil, d.FieldErrorf("dsn", "the SQLite file name must not contain '?'")
	}
	// Create the file first so that it, and the -wal and -shm files SQLite
	// creates with the same mode, are private to this user.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	f.Close()

	pragmas := "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	// _txlock=immediate: a read-write transaction takes the write lock at
	// BEGIN, so it never fails halfway on upgrading a read lock.
	write, err := sql.Open("sqlite", path+pragmas+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0) // keep the writer open: it holds the WAL
	// The readers open lazily, after migrate has switched the file to WAL.
	read, err := sql.Open("sqlite", path+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	read.SetMaxOpenConns(max(4, runtime.NumCPU()))
	return &DB{dialect: SQLite, write: write, read: read, log: log, path: path}, nil
}

func openPostgres(dsn string, log *slog.Logger) (*DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, d.FieldErrorf("dsn", "invalid PostgreSQL DSN: %v", err)
	}
	pool.SetMaxOpenConns(32)
	pool.SetMaxIdleConns(8)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{dialect: Postgres, write: pool, read: pool, log: log}, nil
}

// migrate applies the embedded migrations that have not been applied yet.
func (db *DB) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/"+db.dialect)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.write, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range results {
		db.log.Info("database migrated", "dialect", db.dialect, "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Close closes the database. Transactions still running fail.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Dialect returns SQLite ("sqlite") or Postgres ("postgres").
func (db *DB) Dialect() string { return db.dialect }

// Ping checks that the database answers and that writes can commit: while
// the disk is full (see Full) it returns Unavailable. It is safe for
// concurrent use.
func (db *DB) Ping(ctx context.Context) error {
	if db.Full() {
		return db.fullError()
	}
	if err := db.write.PingContext(ctx); err != nil {
		return unavailable("ping", err)
	}
	if err := db.read.PingContext(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// maxAttempts bounds how often Tx runs fn on PostgreSQL when transactions
// keep failing to serialise.
const maxAttempts = 12

// Tx runs fn in one read-write transaction and commits it if fn returns nil;
// otherwise it rolls back and returns fn's error unchanged. The *Tx is valid
// only during fn and must not be shared between goroutines.
//
// On SQLite the single writer connection serialises read-write
// transactions; a Tx must therefore not call DB.Tx itself (it would wait for
// its own connection forever). On PostgreSQL the transaction is SERIALIZABLE
// and, when it fails with a serialization failure (40001) or a deadlock
// (40P01), Tx runs fn again after a short random backoff, up to maxAttempts
// times, then gives up with an Unavailable error. So fn must have no effects
// outside the transaction, and must wrap the errors of Tx's methods with %w
// rather than replace them. Tx is safe for concurrent use.
func (db *DB) Tx(ctx context.Context, fn func(*Tx) error) error {
	return db.tx(ctx, false, fn)
}

// TxRevocation is Tx for a change that takes access away (revoke, done,
// deny, revoking a token): it runs even while the disk is full, in the room
// the released reserve left, and when it is the write that finds the disk
// full it runs once more after releasing the reserve.
func (db *DB) TxRevocation(ctx context.Context, fn func(*Tx) error) error {
	return db.tx(ctx, true, fn)
}

func (db *DB) tx(ctx context.Context, revocation bool, fn func(*Tx) error) error {
	// With a reserve released, other writes are refused up front: the room
	// left is for revocations. (Without a reserve, as on PostgreSQL, every
	// write is tried: the database itself says whether it has room.)
	if !revocation && db.reserve != "" && db.Full() {
		return errFull
	}
	opts := &sql.TxOptions{}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelSerializable
	}
	retriedFull := false
	for attempt := 1; ; attempt++ {
		err := db.run(ctx, db.write, opts, fn)
		if err == nil {
			if db.reserve == "" {
				db.full.Store(false) // PostgreSQL: a write committed, so the disk has room
			}
			return nil
		}
		if isFull(err) {
			db.noteFull(err)
			if revocation && !retriedFull && db.reserve != "" {
				retriedFull = true
				continue
			}
			return &d.Error{Kind: d.Unavailable, Message: db.fullError().Message, Err: err}
		}
		if !retryable(err) {
			return err
		}
		if attempt == maxAttempts {
			return &d.Error{Kind: d.Unavailable, Message: "the database is busy; try again", Err: err}
		}
		// Full jitter, exponential up to 100ms: contending transactions
		// spread out instead of colliding again.
		wait := time.Duration(rand.Int64N(int64(min(time.Millisecond<<attempt, 100*time.Millisecond))))
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: transaction: %w", ctx.Err())
		case <-time.After(wait):
		}
		db.log.Debug("transaction retried", "attempt", attempt, "err", err)
	}
}

// errFull is what writes get while the disk is full and the reserve is
// released; errDiskFull what they get without a reserve (PostgreSQL).
var (
	errFull     = &d.Error{Kind: d.Unavailable, Message: "the database's disk is full: only revocations are accepted until an operator frees space"}
	errDiskFull = &d.Error{Kind: d.Unavailable, Message: "the database's disk is full; try again once an operator has freed space"}
)

// fullError is the error for a write refused because the disk is full.
func (db *DB) fullError() *d.Error {
	if db.reserve != "" {
		return errFull
	}
	return errDiskFull
}

// fullFor is how long a disk-full error on PostgreSQL (which has no
// reserve here) keeps the DB Full unless a write commits before.
const fullFor = 30 * time.Second

// Full reports whether writes cannot commit because the disk is full. On
// SQLite it stays true from the first disk-full error until the reserve
// could be written back (each call past a few seconds tries); on PostgreSQL
// until a write commits, or fullFor after the last disk-full error. It is
// safe for concurrent use.
func (db *DB) Full() bool {
	if !db.full.Load() {
		return false
	}
	if db.reserve == "" {
		if time.Since(time.Unix(0, db.fullAt.Load())) > fullFor {
			db.full.Store(false)
			return false
		}
		return true
	}
	return !db.restoreReserve()
}

// ReserveReleases counts how often the reserve was released because the
// disk was full. It is safe for concurrent use.
func (db *DB) ReserveReleases() int64 { return db.releases.Load() }

// noteFull records a disk-full error and releases the reserve, once.
func (db *DB) noteFull(err error) {
	db.fullAt.Store(time.Now().UnixNano())
	if db.full.Swap(true) {
		return
	}
	if db.reserve == "" {
		db.log.Error("database disk full: writes fail until the database server has space again", "err", err)
		return
	}
	db.fix.Lock()
	defer db.fix.Unlock()
	db.lastTry = time.Now()
	rmErr := os.Remove(db.reserve)
	if rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		db.log.Error("database disk full: could not release the reserve", "reserve", db.reserve, "err", rmErr)
	}
	db.releases.Add(1)
	db.log.Error("DATABASE DISK FULL: released the reserve so that revocations still commit; every other write is refused (503) and /readyz fails until space is freed",
		"reserve", db.reserve, "bytes", db.reserveSize, "err", err)
}

// restoreTry is how often a Full SQLite DB tries to write its reserve back.
const restoreTry = 5 * time.Second

// restoreReserve tries (at most every restoreTry) to write the reserve back,
// and only when the disk has room for twice its size, so that writes resume
// with room to spare. It reports whether the disk has room again.
func (db *DB) restoreReserve() bool {
	db.fix.Lock()
	defer db.fix.Unlock()
	if !db.full.Load() {
		return true
	}
	if time.Since(db.lastTry) < restoreTry {
		return false
	}
	db.lastTry = time.Now()
	probe := db.reserve + ".probe"
	err := writeZeros(probe, db.reserveSize)
	os.Remove(probe)
	if err == nil {
		err = db.writeReserve()
	}
	if err != nil {
		os.Remove(db.reserve)
		return false
	}
	db.full.Store(false)
	db.log.Warn("database disk has room again: reserve restored, writes accepted", "reserve", db.reserve, "bytes", db.reserveSize)
	return true
}

// writeReserve makes sure the reserve file exists at full size, with its
// blocks allocated (written, not sparse).
func (db *DB) writeReserve() error {
	if fi, err := os.Stat(db.reserve); err == nil && fi.Size() == db.reserveSize {
		return nil
	}
	return writeZeros(db.reserve, db.reserveSize)
}

// writeZeros writes size zero bytes to name (mode 0600) and syncs it; on
// error it removes what it wrote.
func writeZeros(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for left := size; left > 0 && err == nil; left -= int64(len(buf)) {
		_, err = f.Write(buf[:min(left, int64(len(buf)))])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// Read runs fn in one read-only transaction that sees a consistent snapshot
// (on SQLite on a reader connection, so it runs alongside a writer; on
// PostgreSQL REPEATABLE READ, READ ONLY). It returns fn's error unchanged;
// writes inside fn fail. Read is safe for concurrent use.
func (db *DB) Read(ctx context.Context, fn func(*Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return db.run(ctx, db.read, opts, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(*Tx) error) (err error) {
	stx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return classify("begin", err, "")
	}
	defer func() {
		if err != nil {
			stx.Rollback() // the error that matters is err
		}
	}()
	if err := fn(&Tx{ctx: ctx, tx: stx, dialect: db.dialect}); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return classify("commit", err, "")
	}
	return nil
}

// Tx is one database transaction, handed to the function given to DB.Tx or
// DB.Read. Its methods take and return the root package's values. A Tx is
// not safe for concurrent use and is valid only until that function returns.
type Tx struct {
	// ctx is the context of the DB.Tx or DB.Read call: a Tx lives exactly as
	// long as that call, so its methods need not take one.
	ctx     context.Context
	tx      *sql.Tx
	dialect string
	changed changed // what its writes changed (Changed)
}

// bind rewrites the ? placeholders of q as $1, $2, … for PostgreSQL.
// Queries in this package never contain a literal '?'.
func (tx *Tx) bind(q string) string {
	if tx.dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (tx *Tx) exec(q string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(tx.ctx, tx.bind(q), args...)
}

func (tx *Tx) query(q string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(tx.ctx, tx.bind(q), args...)
}

func (tx *Tx) queryRow(q string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(tx.ctx, tx.bind(q), args...)
}

// affected returns notFound if res changed no row.
func affected(op string, res sql.Result, notFound *d.Error) error {
	n, err := rowsAffected(op, res)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}

func rowsAffected(op string, res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", op, err)
	}
	return n, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect scans every row of rows with scan.
func collect[T any](op string, rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, classify(op, err, "")
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, classify(op, err, "")
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(op, err, "")
	}
	return out, nil
}

// placeholders returns "?, ?, …" for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Errors.

// classify turns a driver error into the error callers see: a unique-key
// violation becomes Conflict with conflictMsg (when given), a busy database
// Unavailable, anything else "store: op: cause".
func classify(op string, err error, conflictMsg string) error {
	if err == nil {
		return nil
	}
	if conflictMsg != "" && isUnique(err) {
		return &d.Error{Kind: d.Conflict, Message: conflictMsg, Err: err}
	}
	if isBusy(err) {
		return unavailable(op, err)
	}
	if isFull(err) {
		return &d.Error{Kind: d.Unavailable, Message: errDiskFull.Message, Err: fmt.Errorf("store: %s: %w", op, err)}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

func unavailable(op string, err error) error {
	return &d.Error{Kind: d.Unavailable, Message: "the database is unavailable; try again", Err: fmt.Errorf("store: %s: %w", op, err)}
}

// notFound returns a NotFound error with a message naming the missing thing.
func notFound(format string, args ...any) *d.Error {
	return d.Errorf(d.NotFound, format, args...)
}

// sqliteCode returns the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// pgCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func isUnique(err error) bool {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return pgCode(err) == "23505" // unique_violation
}

func isForeignKey(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY || pgCode(err) == "23503" // foreign_key_violation
}

func isBusy(err error) bool {
	c := sqliteCode(err) & 0xff // primary result code
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// isFull reports whether err says the disk is full: SQLite's SQLITE_FULL
// ("database or disk is full"), or PostgreSQL's disk_full (53100, in class
// 53, insufficient resources).
func isFull(err error) bool {
	return sqliteCode(err)&0xff == sqlite3.SQLITE_FULL || pgCode(err) == "53100"
}

// retryable reports whether a PostgreSQL transaction failed only because it
// collided with another: serialization_failure or deadlock_detected.
func retryable(err error) bool {
	c := pgCode(err)
	return c == "40001" || c == "40P01"
}

// rowErr classifies the error of a single-row lookup: no row is nf.
func rowErr(op string, err error, nf *d.Error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return nf
	}
	return classify(op, err, "")
}
