package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// SetMaxPendingUsage lowers the recorder's bound, so that tests can reach it.
func SetMaxPendingUsage(r *UsageRecorder, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxPending = n
}

// NewThrottleKey is a budget of a rule of the test's own.
func NewThrottleKey(rule string, burst int64, every time.Duration, value string) ThrottleKey {
	return ThrottleKey{throttleRule{rule, burst, every}, value}
}

// RawInScope runs raw SQL inside the scope's unit of work, as a careless
// model function might.
func RawInScope(db *gorm.DB, s Scope, query string) error {
	var n int64
	return s.read(context.Background(), db, func(tx *gorm.DB) error { return tx.Raw(query).Scan(&n).Error })
}
