package store_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drawbridge/drawbridge/internal/pgtest"
	"github.com/drawbridge/drawbridge/internal/store"
)

// TestMigrationsAgree: the two migration trees (migrations/sqlite and
// migrations/postgres) are written by hand, side by side; migrated from
// scratch, they must give the same tables, with the same columns, each of
// the same coarse type class (text, integer, boolean, timestamp, bytes,
// real) and nullability, and the same named indices. A change made to one
// tree only fails here with the difference. The trees also hold the same
// file names, so both dialects number their versions alike.
func TestMigrationsAgree(t *testing.T) {
	files := func(dialect string) []string {
		es, err := os.ReadDir(filepath.Join("migrations", dialect))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	onlySQLite, onlyPG := difference(files("sqlite"), files("postgres"))
	for _, f := range onlySQLite {
		t.Errorf("migration file only in migrations/sqlite: %s", f)
	}
	for _, f := range onlyPG {
		t.Errorf("migration file only in migrations/postgres: %s", f)
	}

	dir := t.TempDir()
	migrate(t, "", dir)
	lite, err := sql.Open("sqlite", filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()

	dsn := pgtest.DSN(t)
	migrate(t, dsn, "")
	pg, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	sqliteSchema := rows(t, lite, `
		SELECT m.name, c.name, c.type, c."notnull" = 0 AND c.pk = 0
		FROM sqlite_master m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	sqliteSchema = append(sqliteSchema, rows(t, lite, `
		SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)...)
	pgSchema := rows(t, pg, `
		SELECT table_name, column_name, data_type, is_nullable = 'YES'
		FROM information_schema.columns WHERE table_schema = current_schema()`)
	pgSchema = append(pgSchema, rows(t, pg, `
		SELECT i.indexname, i.tablename FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND NOT EXISTS (
			SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = i.schemaname::regnamespace)`)...)

	if len(sqliteSchema) < 10 || len(pgSchema) < 10 {
		t.Fatalf("read %d SQLite and %d PostgreSQL schema lines; the queries are broken", len(sqliteSchema), len(pgSchema))
	}
	t.Logf("%d schema lines (columns and indices) per dialect", len(sqliteSchema))
	onlySQLite, onlyPG = difference(sqliteSchema, pgSchema)
	for _, l := range onlySQLite {
		t.Errorf("only in migrations/sqlite: %s", l)
	}
	for _, l := range onlyPG {
		t.Errorf("only in migrations/postgres: %s", l)
	}
}

// migrate opens (and so migrates) a fresh database the way the server does,
// then closes it.
func migrate(t *testing.T, dsn, dir string) {
	t.Helper()
	db, err := store.Open(t.Context(), dsn, dir, nil, store.WithReserve(0))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// rows runs a schema query whose rows are either (table, column, type,
// nullable) or (index, table), and returns one line per row, in a form both
// dialects share.
func rows(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rs, err := db.QueryContext(t.Context(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rs.Next() {
		if len(cols) == 2 {
			var index, table string
			if err := rs.Scan(&index, &table); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("index %s on %s", index, table))
			continue
		}
		var table, column, typ string
		var nullable bool
		if err := rs.Scan(&table, &column, &typ, &nullable); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(table, "goose_") { // goose's own bookkeeping
			continue
		}
		null := "not null"
		if nullable {
			null = "null"
		}
		out = append(out, fmt.Sprintf("column %s.%s %s %s", table, column, typeClass(typ), null))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// typeClass reduces a declared SQLite type or a PostgreSQL data_type to the
// class the store relies on, after SQLite's affinity rules (by substring).
func typeClass(typ string) string {
	t := strings.ToLower(typ)
	switch {
	case strings.Contains(t, "bool"):
		return "boolean"
	case strings.Contains(t, "time"), strings.Contains(t, "date"):
		return "timestamp"
	case strings.Contains(t, "int"):
		return "integer"
	case strings.Contains(t, "char"), strings.Contains(t, "text"), strings.Contains(t, "clob"):
		return "text"
	case strings.Contains(t, "blob"), t == "bytea":
		return "bytes"
	case strings.Contains(t, "real"), strings.Contains(t, "floa"), strings.Contains(t, "doub"), strings.Contains(t, "numeric"):
		return "real"
	}
	return "unknown type " + typ
}

// difference returns the lines only in a and only in b, sorted.
func difference(a, b []string) (onlyA, onlyB []string) {
	for _, l := range a {
		if !slices.Contains(b, l) {
			onlyA = append(onlyA, l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			onlyB = append(onlyB, l)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return onlyA, onlyB
}
