package main

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The in-server p99 is the bound of the bucket the 99th percentile of the
// requests answered during a run falls in, over every route, counting
// only what the run added.
func TestBucketQuantileReadsTheRunsRequests(t *testing.T) {
	// A histogram of two routes in Prometheus's text format; a label whose
	// name ends in "le" is no bucket bound.
	histogram := func(routes map[string][4]int) string {
		var b strings.Builder
		b.WriteString("# TYPE switchboard_http_request_duration_seconds histogram\n")
		for route, n := range routes {
			for i, le := range []string{"0.001", "0.01", "0.1", "+Inf"} {
				b.WriteString(durationMetric + `_bucket{handle="x",method="GET",route="` + route + `",le="` + le + `"} ` + strconv.Itoa(n[i]) + "\n")
			}
			b.WriteString(durationMetric + `_count{handle="x",method="GET",route="` + route + `"} ` + strconv.Itoa(n[3]) + "\n")
			b.WriteString(durationMetric + `_sum{handle="x",method="GET",route="` + route + `"} 1` + "\n")
		}
		return b.String()
	}
	// Before the run: 500 requests, 400 of them fast, that must not count.
	before := parseMetrics(strings.NewReader(histogram(map[string][4]int{"/": {400, 400, 500, 500}})))
	// The run adds 900, 990, 1,000 and 1,000 on / and all of /x.
	after := parseMetrics(strings.NewReader(histogram(map[string][4]int{"/": {1300, 1390, 1500, 1500}, "/x": {90, 100, 100, 100}})))
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
	counterOnly := parseMetrics(strings.NewReader("# TYPE " + statementsMetric + " counter\n" + statementsMetric + " 3\n"))
	if _, ok := bucketQuantile(parseMetrics(strings.NewReader("")), counterOnly, 0.99); ok {
		t.Error("a server without the histogram has no quantile")
	}
	if n, ok := delta(parseMetrics(strings.NewReader("")), counterOnly, statementsMetric); ok {
		t.Errorf("a counter missing from one read has no delta, got %v", n)
	}
	if n, ok := delta(counterOnly, counterOnly, statementsMetric); !ok || n != 0 {
		t.Errorf("delta = %v, %v; want 0, true", n, ok)
	}
	// Beyond the last finite bound there is no bound to print.
	slow := parseMetrics(strings.NewReader(histogram(map[string][4]int{"/": {0, 0, 0, 10}})))
	if _, ok := bucketQuantile(parseMetrics(strings.NewReader("")), slow, 0.99); ok {
		t.Error("a quantile in the +Inf bucket has no bound")
	}
}

// A read of the metrics that fails has none: no counter grew, and there is
// no quantile.
func TestFailedMetricsReadHasNone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	failed := readMetrics(addr)
	if n, ok := delta(failed, failed, statementsMetric); ok {
		t.Errorf("statements from a failed read: %v, want none", n)
	}
	if q, ok := bucketQuantile(failed, failed, 0.99); ok {
		t.Errorf("p99 from a failed read: %v, want none", q)
	}
}
