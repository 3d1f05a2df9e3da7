package main

import (
	"testing"
	"time"
)

// The in-server p99 is the bound of the bucket the 99th percentile of the
// requests answered during a run falls in, over every route, counting
// only what the run added.
func TestBucketQuantileReadsTheRunsRequests(t *testing.T) {
	sample := func(route, le string) string {
		return durationBuckets + `{method="GET",route="` + route + `",le="` + le + `"}`
	}
	read := func(lines map[string]float64) map[string]float64 {
		found := map[string]float64{}
		for name, v := range lines {
			found[durationBuckets+"{"+label(name, "le")+"}"] += v
		}
		return found
	}
	before := read(map[string]float64{
		// Before the run: slow requests that must not count.
		sample("/", "0.001"): 0, sample("/", "0.01"): 0, sample("/", "0.1"): 500, sample("/", "+Inf"): 500,
	})
	after := read(map[string]float64{
		sample("/", "0.001"): 900, sample("/", "0.01"): 990, sample("/", "0.1"): 1500, sample("/", "+Inf"): 1500,
		sample("/x", "0.001"): 90, sample("/x", "0.01"): 100, sample("/x", "0.1"): 100, sample("/x", "+Inf"): 100,
	})
	// The run answered 1,100: 990 within 1 ms, 1,090 within 10 ms.
	if got, ok := bucketQuantile(before, after, 0.9); !ok || got != time.Millisecond {
		t.Errorf("p90 = %v, %v; want 1ms", got, ok)
	}
	if got, ok := bucketQuantile(before, after, 0.99); !ok || got != 10*time.Millisecond {
		t.Errorf("p99 = %v, %v; want 10ms", got, ok)
	}
	if got, ok := bucketQuantile(before, after, 1); !ok || got != 100*time.Millisecond {
		t.Errorf("p100 = %v, %v; want 100ms", got, ok)
	}
	if _, ok := bucketQuantile(after, after, 0.99); ok {
		t.Error("a run that answered nothing has no quantile")
	}
	if _, ok := bucketQuantile(map[string]float64{}, map[string]float64{statementsMetric: 3}, 0.99); ok {
		t.Error("a server without the histogram has no quantile")
	}
	// Beyond the last finite bound there is no bound to print.
	slow := read(map[string]float64{sample("/", "0.001"): 0, sample("/", "+Inf"): 10})
	if _, ok := bucketQuantile(map[string]float64{}, slow, 0.99); ok {
		t.Error("a quantile in the +Inf bucket has no bound")
	}
}

func TestLabelReadsPrometheusTextFormat(t *testing.T) {
	s := `switchboard_http_request_duration_seconds_bucket{method="GET",handle="x",route="/indexes",le="0.0025"}`
	for name, want := range map[string]string{"le": "0.0025", "route": "/indexes", "method": "GET", "handle": "x", "code": "", "dle": ""} {
		if got := label(s, name); got != want {
			t.Errorf("label %s = %q, want %q", name, got, want)
		}
	}
}
