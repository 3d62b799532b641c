package pgtest_test

import (
	"database/sql"
	"testing"

	"github.com/drawbridge/drawbridge/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestDSN(t *testing.T) {
	a, b := pgtest.DSN(t), pgtest.DSN(t)
	if a == b {
		t.Fatalf("two calls returned the same DSN %q", a)
	}
	dba := open(t, a)
	if _, err := dba.ExecContext(t.Context(), "CREATE TABLE x (id int)"); err != nil {
		t.Fatal(err)
	}
	// The second database is fresh: it does not see the first one's table.
	var n int
	if err := open(t, b).QueryRowContext(t.Context(), "SELECT count(*) FROM pg_tables WHERE tablename = 'x'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("table x visible in a second database")
	}
	// Unix socket only: no TCP listener.
	var listen string
	if err := dba.QueryRowContext(t.Context(), "SHOW listen_addresses").Scan(&listen); err != nil {
		t.Fatal(err)
	}
	if listen != "" {
		t.Errorf("listen_addresses = %q, want empty (no TCP)", listen)
	}
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
