package usage

// SetMaxPendingUsage lowers the recorder's bound, so that tests can reach it.
func SetMaxPendingUsage(r *UsageRecorder, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxPending = n
}

// LoseFlushes fails the recorder's flushes as a dropped connection does,
// before they commit (rolled back) or after (the answer lost), while lose
// says so.
func LoseFlushes(r *UsageRecorder, lose func(afterCommit bool) error) {
	r.lose = lose
}
