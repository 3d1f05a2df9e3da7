package models

import "time"

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
