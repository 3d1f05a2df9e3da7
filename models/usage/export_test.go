package usage

// SetMaxPendingUsage lowers the recorder's bound, so that tests can reach it.
func SetMaxPendingUsage(r *UsageRecorder, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxPending = n
}
