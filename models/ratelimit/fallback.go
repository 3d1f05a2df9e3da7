package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// WithFallback counts in primary (Redis) and, while primary fails, in
// fallback (the database): an outage of Redis neither stops the API nor
// lets it run unlimited. Counts made during the outage are not carried back,
// so an account may get up to one window's budget twice across the switch.
// After a failure primary is left alone for retryAfter, so a dead Redis
// costs one timeout per retryAfter, not one per request.
func WithFallback(primary, fallback RateLimiter, log *slog.Logger) RateLimiter {
	return &fallbackLimiter{primary: primary, fallback: fallback, log: log, retryAfter: 5 * time.Second}
}

type fallbackLimiter struct {
	primary, fallback RateLimiter
	log               *slog.Logger
	retryAfter        time.Duration

	mu        sync.Mutex
	downUntil time.Time
}

// usePrimary reports whether primary should be tried now.
func (f *fallbackLimiter) usePrimary() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().After(f.downUntil)
}

// failed notes a failure of primary; the first of an outage is logged.
func (f *fallbackLimiter) failed(err error) {
	f.mu.Lock()
	first := f.downUntil.IsZero()
	f.downUntil = time.Now().Add(f.retryAfter)
	f.mu.Unlock()
	if first {
		f.log.Error("rate limits fall back to the database: Redis does not answer", "err", err)
	}
}

func (f *fallbackLimiter) recovered() {
	f.mu.Lock()
	was := !f.downUntil.IsZero()
	f.downUntil = time.Time{}
	f.mu.Unlock()
	if was {
		f.log.Warn("rate limits are counted in Redis again")
	}
}

func (f *fallbackLimiter) Take(ctx context.Context, accountID int64, limits Limits, at time.Time) (RateDecision, error) {
	if f.usePrimary() {
		d, err := f.primary.Take(ctx, accountID, limits, at)
		if err == nil {
			f.recovered()
			return d, nil
		}
		if ctx.Err() != nil {
			return d, err
		}
		f.failed(err)
	}
	return f.fallback.Take(ctx, accountID, limits, at)
}

func (f *fallbackLimiter) Used(ctx context.Context, accountID int64, at time.Time) (minute, day int64, err error) {
	if f.usePrimary() {
		if minute, day, err = f.primary.Used(ctx, accountID, at); err == nil {
			return minute, day, nil
		}
		if ctx.Err() != nil {
			return 0, 0, err
		}
		f.failed(err)
	}
	return f.fallback.Used(ctx, accountID, at)
}
