package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// HotSQL is a raw statement that every API request runs, written with ?
// placeholders and rendered for PostgreSQL ($1, $2, …) once: Raw would
// render it again, byte by byte, on every call (some microseconds per
// statement), and Scan would reflect on its destination. Every ? is a
// placeholder, even one in a string literal, and each argument binds as one
// value (no slice expansion as Raw does for IN ?).
type HotSQL struct {
	sqlite, postgres string
}

// NewHotSQL renders text, written with ? placeholders, for both databases.
// Build one per statement, once (a package variable), not per call.
func NewHotSQL(text string) HotSQL { return NewHotSQLFor(text, text) }

// NewHotSQLFor is NewHotSQL with a text of its own for each database, both
// written with ? placeholders taking the same arguments in the same order.
func NewHotSQLFor(sqlite, postgres string) HotSQL {
	return HotSQL{sqlite: sqlite, postgres: numberPlaceholders(postgres)}
}

// numberPlaceholders writes PostgreSQL's $1, $2, … for text's ?s.
func numberPlaceholders(text string) string {
	var b strings.Builder
	n := 0
	for _, r := range text {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// ScanRow runs the statement with args, through GORM's row callbacks (the
// scope guard, the statement count), and scans its one row into dest:
// sql.ErrNoRows when it answers none.
func (h HotSQL) ScanRow(ctx context.Context, db *gorm.DB, args []any, dest ...any) error {
	tx := db.WithContext(ctx).Raw("")
	if DialectOfDB(db) == Postgres {
		tx.Statement.SQL.WriteString(h.postgres)
	} else {
		tx.Statement.SQL.WriteString(h.sqlite)
	}
	tx.Statement.Vars = append(tx.Statement.Vars, args...)
	return ScanRow(tx, dest...)
}

// ScanRow runs a statement of one row (sql.ErrNoRows without) into dest,
// with the statement's own error first. It reads through Rows, not Row:
// GORM's prepared-statement cache answers a statement it could not prepare
// (a canceled request, a database that is down) with an empty *sql.Row
// that panics when scanned, where Rows returns the error.
func ScanRow(tx *gorm.DB, dest ...any) error {
	rows, err := tx.Rows()
	if err == nil {
		err = tx.Error
	}
	if err != nil {
		if rows != nil {
			_ = rows.Close()
		}
		return err
	}
	if rows == nil {
		return errors.New("statement answered no row set")
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}
