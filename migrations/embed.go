// Package migrations holds Switchboard's versioned SQL schema, one directory
// per database dialect. Both directories carry the same versions; a test in
// models checks that the migrated schema matches the GORM models on each.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql, applied in version order.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
