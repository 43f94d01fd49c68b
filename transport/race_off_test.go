//go:build !race

package transport_test

// raceEnabled: the test binary runs under the race detector.
const raceEnabled = false
