package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// Reads of one statement in one round trip.
//
// A Read on PostgreSQL costs three round trips for one statement (begin
// with the unit's settings, the statement, commit), and on a machine where
// the server, the database and the clients share the cores, each round
// trip costs more CPU than the statement itself. Find and Query send the
// unit's settings and the statement together, as a pipeline that
// PostgreSQL runs as one transaction ending at its single Sync: the
// statement runs under row security with the unit's settings, which end
// with it. On SQLite, and inside a transaction, they are Read.

// Rows are the rows of one statement, as Query's scan reads them: a
// *sql.Rows on SQLite, pgx's rows on PostgreSQL.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Find runs one read statement as the scope's unit of work and scans its
// rows into dest as GORM's Find does (no hooks, no preloads). build makes
// the statement from the unit's tx, marked as Read's statements are
// (s.Apply, s.Mark), without running it.
func (s Scope) Find(ctx context.Context, db *gorm.DB, dest any, build func(tx *gorm.DB) *gorm.DB) error {
	u, db, err := s.queryUnit(db)
	if err != nil {
		return err
	}
	return pipelined(ctx, db, u, dest, build, scanInto, findInto(dest, build))
}

// Query is Find for a scan of its own: the rows go to scan as they are.
func (s Scope) Query(ctx context.Context, db *gorm.DB, build func(tx *gorm.DB) *gorm.DB, scan func(Rows) error) error {
	u, db, err := s.queryUnit(db)
	if err != nil {
		return err
	}
	return pipelined(ctx, db, u, &[]map[string]any{}, build, func(rows gorm.Rows, _ *gorm.DB) error { return scan(rows) }, queryRows(build, scan))
}

func (s Scope) queryUnit(db *gorm.DB) (unit, *gorm.DB, error) {
	switch {
	case s.IsZero():
		return unit{}, db, ErrUnscoped
	case s.door != "":
		// The system acting in one account: past row security, restricted
		// to the account by s.Apply.
		return unit{door: true}, Door{}.pool(db), nil
	}
	return unit{account: s.account.ID, user: s.userID}, db, nil
}

// Find is Scope.Find for the user's own rows.
func (v UserView) Find(ctx context.Context, db *gorm.DB, dest any, build func(tx *gorm.DB) *gorm.DB) error {
	if v.user == 0 {
		return ErrUnscoped
	}
	return pipelined(ctx, db, unit{user: v.user}, dest, build, scanInto, findInto(dest, build))
}

// findInto is Find's statement run in a unit of Read.
func findInto(dest any, build func(tx *gorm.DB) *gorm.DB) func(tx *gorm.DB) error {
	return func(tx *gorm.DB) error { return build(tx).Find(dest).Error }
}

// queryRows is Query's statement run in a unit of Read.
func queryRows(build func(tx *gorm.DB) *gorm.DB, scan func(Rows) error) func(tx *gorm.DB) error {
	return func(tx *gorm.DB) error {
		rows, err := build(tx).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := scan(rows); err != nil {
			return err
		}
		return rows.Err()
	}
}

// scanInto scans rows into the destination of the statement rendered.
func scanInto(rows gorm.Rows, rendered *gorm.DB) error {
	gorm.Scan(rows, rendered, 0)
	return rendered.Error
}

// pipelined runs build's statement as u and hands its rows to consume,
// with the statement rendered for dest (its schema, its destination).
// Where it cannot pipeline, it runs read as a Read would.
func pipelined(ctx context.Context, db *gorm.DB, u unit, dest any, build func(tx *gorm.DB) *gorm.DB,
	consume func(rows gorm.Rows, rendered *gorm.DB) error, read func(tx *gorm.DB) error) error {
	if DialectOfDB(db) != Postgres || inTransaction(db) || u.door {
		// SQLite reads need no transaction; inside one, the unit is entered
		// as Read enters it; the door's reads are one round trip already.
		return runUnit(ctx, db, u, false, nil, read)
	}
	// The statement, rendered through the query callbacks (the walls'
	// guard among them) without running.
	tx := db.Session(&gorm.Session{NewDB: true, Context: ctx, DryRun: true}).Set(authorityKey, nil).Session(&gorm.Session{})
	rendered := build(tx).Find(dest)
	if rendered.Error != nil {
		return rendered.Error
	}
	return sendPipelined(ctx, db, u, rendered.Statement.SQL.String(), rendered.Statement.Vars,
		func(rows gorm.Rows) error { return consume(rows, rendered) })
}

// sendPipelined sends the unit's settings and a statement rendered for
// PostgreSQL together, and hands its rows to consume.
func sendPipelined(ctx context.Context, db *gorm.DB, u unit, text string, args []any, consume func(rows gorm.Rows) error) error {
	t := wallsOf(db)
	conn, err := t.appConn(ctx, db)
	if err != nil {
		return err
	}
	defer t.turns.Give()
	defer conn.Close()
	queries.Add(1)
	return conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("a pipelined read needs pgx's connection, got %T", driverConn)
		}
		batch := &pgx.Batch{}
		batch.Queue(unitSettings, idSetting(u.account), idSetting(u.user))
		batch.Queue(text, args...)
		results := c.Conn().SendBatch(ctx, batch)
		if _, err := results.Exec(); err != nil {
			return errors.Join(err, results.Close())
		}
		rows, err := results.Query()
		if err != nil {
			return errors.Join(err, results.Close())
		}
		err = consume(pgxRows{rows})
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		return errors.Join(err, results.Close())
	})
}

// unitSettings make a transaction act for a unit (its account and user
// as parameters), as enter does.
const unitSettings = `SELECT set_config('role', '` + appRole + `', true),
	set_config('switchboard.account_id', $1, true), set_config('switchboard.user_id', $2, true)`

// pgxRows are pgx's rows as GORM scans them. Without column types GORM
// scans into its fields' own types (or any), which pgx converts to.
type pgxRows struct{ pgx.Rows }

func (r pgxRows) Columns() ([]string, error) {
	fields := r.FieldDescriptions()
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	return names, nil
}

func (r pgxRows) ColumnTypes() ([]*sql.ColumnType, error) { return nil, nil }

func (r pgxRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}

var (
	_ Rows      = (*sql.Rows)(nil)
	_ gorm.Rows = pgxRows{}
)
