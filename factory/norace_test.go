//go:build !race

package factory

const raceEnabled = false
