package tenancy

import (
	"context"
	"fmt"
	"reflect"

	"gorm.io/gorm"
)

// A Statement is a read that a hot path runs on every request, rendered
// through GORM once for each of its shapes rather than on every call:
// rendering the platform API's index list (two subqueries, a join) cost a
// fifth of the API's CPU, as much as sending it and reading its rows.
//
// build makes the statement for a scope, a shape (K: what chooses its
// text, such as a sort order) and arguments (A: a struct of int, int64 and
// string fields, each bound as one value, such as a page's limit and
// offset). Its text and constants must depend on the shape alone: it may
// not branch on the arguments or the scope's IDs, nor bind a value
// computed from them (an offset from a page number: pass the offset).
// Declare build at package level, so that it captures nothing of a
// request.
//
// On PostgreSQL, outside a transaction, a Statement renders each shape
// twice, with two sets of stand-in values for the scope's account and user
// and for the arguments (small, then huge), and keeps the text and where
// each value goes. A build that binds a value that is neither a constant
// nor one of the stand-ins, or whose text changes between the two, fails
// the call: that catches a value computed from the inputs and most
// branches on them, not every branch, so each Statement's tests compare
// its rows with build's own for several values. Each later call sends the
// kept text with the request's values, as Scope.Query does, under the
// same row security. Elsewhere it is Scope.Query with build's statement.
type Statement[K comparable, A any] struct {
	build func(tx *gorm.DB, s Scope, shape K, args A) *gorm.DB
	// kept: its answers are kept in memory (a Kept's), so each shape's
	// plan is checked for the tables it reads when it is rendered.
	kept bool
}

// NewStatement declares a Statement (once, as a package variable).
func NewStatement[K comparable, A any](build func(tx *gorm.DB, s Scope, shape K, args A) *gorm.DB) *Statement[K, A] {
	var zero A
	if _, err := standIns(reflect.TypeOf(zero), 0); err != nil {
		panic(err)
	}
	return &Statement[K, A]{build: build}
}

// Query runs the statement as s's unit of work, as Scope.Query does, and
// hands its rows to scan.
func (st *Statement[K, A]) Query(ctx context.Context, db *gorm.DB, s Scope, shape K, args A, scan func(Rows) error) error {
	u, pool, err := s.queryUnit(db)
	if err != nil {
		return err
	}
	if DialectOfDB(db) != Postgres || inTransaction(db) || u.door || s.scimToken != 0 {
		return s.Query(ctx, db, func(tx *gorm.DB) *gorm.DB { return st.build(tx, s, shape, args) }, scan)
	}
	key := shapeKey{statement: st, shape: shape, role: s.role, kind: s.account.Kind, secondFactor: s.secondFactor}
	t := wallsOf(pool)
	kept, ok := t.shapes.Load(key)
	if !ok {
		r, err := renderShape(ctx, pool, s, func(tx *gorm.DB, stand Scope, a any) *gorm.DB {
			return st.build(tx, stand, shape, a.(A))
		}, reflect.TypeOf(args))
		if err != nil {
			return err
		}
		if st.kept {
			if err := checkTablesRead(ctx, pool, u, r.text, r.bind(s, reflect.ValueOf(args))); err != nil {
				return err
			}
		}
		kept, _ = t.shapes.LoadOrStore(key, r)
	}
	r := kept.(*renderedShape)
	return sendPipelined(ctx, pool, u, r.text, r.bind(s, reflect.ValueOf(args)), func(rows gorm.Rows) error { return scan(rows) })
}

// shapeKey is what a rendered shape is kept by, in each database's walls:
// its statement, its shape and what of the scope build may branch on.
type shapeKey struct {
	statement    any
	shape        any
	role         Role
	kind         AccountKind
	secondFactor bool
}

// renderedShape is a statement's text and, for each of its values, a
// constant or where the request's value comes from.
type renderedShape struct {
	text   string
	values []shapeValue
}

type shapeValue struct {
	source   int // sourceConstant, sourceAccount, sourceUser, or an argument's field (from 0)
	constant any
}

const (
	sourceConstant = -3
	sourceAccount  = -2
	sourceUser     = -1
)

// bind is the rendered statement's values for a request.
func (r *renderedShape) bind(s Scope, args reflect.Value) []any {
	out := make([]any, len(r.values))
	for i, v := range r.values {
		switch v.source {
		case sourceConstant:
			out[i] = v.constant
		case sourceAccount:
			out[i] = s.account.ID
		case sourceUser:
			out[i] = s.userID
		default:
			out[i] = args.Field(v.source).Interface()
		}
	}
	return out
}

// renderShape renders build twice, with two sets of stand-ins, and finds
// where each value of the statement comes from.
func renderShape(ctx context.Context, db *gorm.DB, s Scope, build func(tx *gorm.DB, stand Scope, args any) *gorm.DB, argsType reflect.Type) (*renderedShape, error) {
	var texts [2]string
	var vars [2][]any
	var stands [2][]any // account, user, then the arguments' fields
	for round := range 2 {
		args, err := standIns(argsType, round)
		if err != nil {
			return nil, err
		}
		stand := standInScope(s, round)
		tx := db.Session(&gorm.Session{NewDB: true, Context: ctx, DryRun: true}).Set(authorityKey, nil).Session(&gorm.Session{})
		rendered := build(tx, stand, args.Interface()).Find(&[]map[string]any{})
		if rendered.Error != nil {
			return nil, rendered.Error
		}
		texts[round], vars[round] = rendered.Statement.SQL.String(), rendered.Statement.Vars
		stands[round] = []any{stand.account.ID, stand.userID}
		for i := range args.NumField() {
			stands[round] = append(stands[round], args.Field(i).Interface())
		}
	}
	if texts[0] != texts[1] || len(vars[0]) != len(vars[1]) {
		return nil, fmt.Errorf("a statement's text changed with its values (its build branches on them):\n%s\n%s", texts[0], texts[1])
	}
	r := &renderedShape{text: texts[0]}
	for i, v := range vars[0] {
		if reflect.DeepEqual(v, vars[1][i]) {
			r.values = append(r.values, shapeValue{source: sourceConstant, constant: v})
			continue
		}
		source := -1
		for j, stand := range stands[0] {
			if reflect.DeepEqual(v, stand) && reflect.DeepEqual(vars[1][i], stands[1][j]) {
				source = j
				break
			}
		}
		if source < 0 {
			return nil, fmt.Errorf("a statement binds %#v (value %d), computed from its scope or arguments: pass it as an argument", v, i+1)
		}
		switch source {
		case 0:
			source = sourceAccount
		case 1:
			source = sourceUser
		default:
			source -= 2 // the arguments' fields follow the account and the user
		}
		r.values = append(r.values, shapeValue{source: source})
	}
	return r, nil
}

// standInInt is the n-th stand-in of a round: positive (GORM leaves out a
// negative limit and an offset that is not positive), small in the first
// round and far past any ID in the second, so that a build branching on
// a value's size (an offset past the first page) renders two texts.
func standInInt(round, n int) int64 {
	if round == 0 {
		return 2 + int64(n)
	}
	return 1<<52 + int64(n)
}

// standIns is a value of t (a struct of int, int64 and string fields)
// holding round's stand-ins, distinct from the scope's.
func standIns(t reflect.Type, round int) (reflect.Value, error) {
	if t == nil || t.Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("a statement's arguments are a struct, not %v", t)
	}
	v := reflect.New(t).Elem()
	for i := range t.NumField() {
		f := v.Field(i)
		if !t.Field(i).IsExported() {
			return reflect.Value{}, fmt.Errorf("a statement's argument %s is not exported", t.Field(i).Name)
		}
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(standInInt(round, 3+i))
		case reflect.String:
			f.SetString(fmt.Sprintf("\x00stand-in %d.%d", i, round))
		default:
			return reflect.Value{}, fmt.Errorf("a statement's argument %s is a %v: only int, int64 and string are bound as they are", t.Field(i).Name, f.Kind())
		}
	}
	return v, nil
}
