package throttle

import "time"

// NewThrottleKey is a budget of a rule of the test's own.
func NewThrottleKey(rule string, burst int64, every time.Duration, value string) ThrottleKey {
	return ThrottleKey{throttleRule{rule, burst, every}, value}
}
