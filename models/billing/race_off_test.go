//go:build !race

package billing_test

// raceDetector: see race_on_test.go.
const raceDetector = false
