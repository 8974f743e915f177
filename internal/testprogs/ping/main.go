// Command ping is the benchmark program: a Job whose run returns its input unchanged.
//
// Unlike the other test programs it does not refuse to run outside a vat, because the
// benchmark's baseline starts it directly (a plain fork/exec with a socket on fd 3) to compare
// with a confined start of the same binary. It stays harmless there: it opens no file and no
// socket, reads no environment, and only answers on the fd 3 it was given; without a socket on
// fd 3 it exits at once with status 1.
package main

import (
	"context"

	"github.com/factoryd/factoryd/program"
)

func main() {
	program.MainJob(echo)
}

// echo returns the input, which the SDK copies into the reply.
func echo(_ context.Context, _ *program.Env, input []byte) ([]byte, error) {
	return input, nil
}
