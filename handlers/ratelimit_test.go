package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models/ratelimit"
)

// admitAll is a limiter with room for every request.
type admitAll struct{}

func (admitAll) Take(context.Context, int64, ratelimit.Limits, time.Time) (ratelimit.RateDecision, error) {
	return ratelimit.RateDecision{Allowed: true, Limit: 100, Used: 1, Reset: time.Now().Add(time.Minute)}, nil
}

func (admitAll) Used(context.Context, int64, time.Time) (int64, int64, error) { return 1, 1, nil }

// The usage of an admitted request is recorded from the answer the client
// gets, whichever way the handler gave it: written, or returned as an error
// that the error handler writes later. A server error and a client that
// left before any answer are not recorded.
func TestRateLimitRecordsWhatTheClientIsAnswered(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler echo.HandlerFunc
		gone    bool
		status  int // 0: nothing sent
		records int
	}{
		{"written", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{}) }, false, http.StatusOK, 1},
		{"client error", func(echo.Context) error { return notExists("0123456789abcdef01234567", "indexes") }, false, http.StatusNotFound, 1},
		{"server error", func(echo.Context) error {
			return &apiError{http.StatusServiceUnavailable, "service_unavailable", "The service is temporarily unavailable."}
		}, false, http.StatusServiceUnavailable, 0},
		{"written, then an error", func(c echo.Context) error {
			_ = c.NoContent(http.StatusNoContent)
			return errors.New("after the answer")
		}, false, http.StatusNoContent, 1},
		{"client gone", func(c echo.Context) error { return c.Request().Context().Err() }, true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := &deps{log: slog.New(slog.DiscardHandler)}
			var recorded []time.Time
			limit := d.rateLimit(budget{limiter: admitAll{}, headers: true,
				tooMany: func(int64, int64) error { return errors.New("not limited here") },
				record:  func(_ echo.Context, at time.Time) { recorded = append(recorded, at) }})
			e := echo.New()
			e.HTTPErrorHandler = d.handleError
			var began time.Time
			e.GET("/v1.3/indexes", func(c echo.Context) error { began = time.Now(); return tc.handler(c) }, limit)
			ctx, cancel := context.WithCancel(t.Context())
			if tc.gone {
				cancel()
			}
			defer cancel()
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1.3/indexes", nil))
			if tc.status != 0 && rec.Code != tc.status {
				t.Fatalf("answered %d, want %d", rec.Code, tc.status)
			}
			if len(recorded) != tc.records {
				t.Fatalf("recorded %d times, want %d", len(recorded), tc.records)
			}
			// At its admission, not its answer: a request's day is the day
			// it came.
			if tc.records > 0 && recorded[0].After(began) {
				t.Errorf("recorded at %v, after the handler began (%v)", recorded[0], began)
			}
		})
	}
}
