package tenancy

import "context"

// Turns lets a fixed number of holders in at once, the others waiting in
// the order they came: a channel's waiting senders are served first come,
// first served, where database/sql hands a freed connection to a random
// waiter and a sync.Mutex lets newcomers barge ahead. Nil Turns let
// everyone in.
type Turns chan struct{}

// NewTurns lets n holders in at once.
func NewTurns(n int) Turns { return make(Turns, n) }

// Take waits for a turn, or until ctx ends.
func (t Turns) Take(ctx context.Context) error {
	if t == nil {
		return nil
	}
	select {
	case t <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Give gives a turn back.
func (t Turns) Give() {
	if t != nil {
		<-t
	}
}
