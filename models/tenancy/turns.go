package tenancy

import "context"

// turns lets a fixed number of holders in at once, the others waiting in
// the order they came: a channel's waiting senders are served first come,
// first served, where database/sql hands a freed connection to a random
// waiter and a sync.Mutex lets newcomers barge ahead. A nil turns lets
// everyone in.
type turns chan struct{}

// take waits for a turn, or until ctx ends.
func (t turns) take(ctx context.Context) error {
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

// give gives a turn back.
func (t turns) give() {
	if t != nil {
		<-t
	}
}
