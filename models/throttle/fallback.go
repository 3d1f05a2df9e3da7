package throttle

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// WithFallback counts sign-in attempts in primary (Redis) and, while it
// fails, in fallback (the database), so that an outage of Redis neither
// locks everyone out nor lifts the throttle. After a failure primary is
// left alone for a few seconds, so a dead Redis costs one timeout per
// retry, not one per attempt.
func WithFallback(primary, fallback Throttle, log *slog.Logger) Throttle {
	return &fallbackThrottle{primary: primary, fallback: fallback, log: log, retryAfter: 5 * time.Second}
}

type fallbackThrottle struct {
	primary, fallback Throttle
	log               *slog.Logger
	retryAfter        time.Duration

	mu        sync.Mutex
	downUntil time.Time
}

// try runs op on primary when it is thought up, and on fallback when it
// is down or fails.
func (f *fallbackThrottle) try(ctx context.Context, op func(Throttle) error) error {
	f.mu.Lock()
	up := time.Now().After(f.downUntil)
	f.mu.Unlock()
	if up {
		err := op(f.primary)
		f.mu.Lock()
		first, was := f.downUntil.IsZero(), !f.downUntil.IsZero()
		if err == nil {
			f.downUntil = time.Time{}
		} else if ctx.Err() == nil {
			f.downUntil = time.Now().Add(f.retryAfter)
		}
		f.mu.Unlock()
		switch {
		case err == nil:
			if was {
				f.log.Warn("sign-in throttles are counted in Redis again")
			}
			return nil
		case ctx.Err() != nil:
			return err
		case first:
			f.log.Error("sign-in throttles fall back to the database: Redis does not answer", "err", err)
		}
	}
	return op(f.fallback)
}

func (f *fallbackThrottle) Take(ctx context.Context, at time.Time, keys ...ThrottleKey) (wait time.Duration, err error) {
	err = f.try(ctx, func(t Throttle) error {
		var terr error
		wait, terr = t.Take(ctx, at, keys...)
		return terr
	})
	return wait, err
}

func (f *fallbackThrottle) Refund(ctx context.Context, at time.Time, keys ...ThrottleKey) error {
	return f.try(ctx, func(t Throttle) error { return t.Refund(ctx, at, keys...) })
}

func (f *fallbackThrottle) Reset(ctx context.Context, keys ...ThrottleKey) error {
	return f.try(ctx, func(t Throttle) error { return t.Reset(ctx, keys...) })
}
