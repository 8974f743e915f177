//go:build race

package factory

// raceEnabled: the race detector slows RPC-heavy tests about twentyfold; they do less.
const raceEnabled = true
