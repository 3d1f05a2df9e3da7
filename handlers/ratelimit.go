package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models/ratelimit"
)

// budget is how a family of endpoints meets the accounts' rate limits. The
// public API and SCIM draw from the same budgets; they differ in what they
// tell the client and in the usage they note.
type budget struct {
	limiter ratelimit.RateLimiter
	// headers puts the X-Ratelimit headers on every answer.
	headers bool
	// tooMany is the 429, in the family's error body.
	tooMany func(limit, retryAfter int64) error
	// record notes the usage of a request admitted at at, once answered.
	record func(c echo.Context, at time.Time)
}

// rateLimit takes each request from its account's budgets (shared by every
// key of every member, and the organization's identity provider) and
// refuses it with 429 when one is spent; a refused request does nothing.
// A request that passes is recorded as usage (in batches, on the day it was
// admitted) once it is answered, unless the answer is a server error: a
// 5xx, during a database outage say, is not the customer's to pay for. A
// 4xx is their request and counts.
func (d *deps) rateLimit(b budget) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			s := ScopeFrom(c)
			at := time.Now()
			dec, err := b.limiter.Take(c.Request().Context(), s.AccountID(), ratelimit.LimitsOf(s.Account()), at)
			if err != nil {
				d.cfg.Metrics.RateLimit("error")
				return err
			}
			h := c.Response().Header()
			if b.headers {
				h.Set("X-Ratelimit-Limit", strconv.FormatInt(dec.Limit, 10))
				h.Set("X-Ratelimit-Remaining", strconv.FormatInt(dec.Remaining(), 10))
				h.Set("X-Ratelimit-Used", strconv.FormatInt(dec.Used, 10))
				h.Set("X-Ratelimit-Reset", strconv.FormatInt(dec.Reset.Unix(), 10))
			}
			if !dec.Allowed {
				d.cfg.Metrics.RateLimit("limited")
				retry := int64(dec.Reset.Sub(at).Seconds()) + 1
				h.Set("Retry-After", strconv.FormatInt(retry, 10))
				return b.tooMany(dec.Limit, retry)
			}
			d.cfg.Metrics.RateLimit("allowed")
			// The error handler writes the answer to an error; let it run
			// here, so that the status read is the one sent. A request the
			// client left before any answer was sent is not recorded either.
			if err := next(c); err != nil {
				c.Error(err)
			}
			if res := c.Response(); res.Committed && res.Status < http.StatusInternalServerError {
				b.record(c, at)
			}
			return nil
		}
	}
}
