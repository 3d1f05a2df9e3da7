//go:build race

package billing_test

// raceDetector: the tests run under the race detector, five to ten times
// slower; property tests take fewer cases.
const raceDetector = true
