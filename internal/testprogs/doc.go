// Package testprogs holds programs that tests run inside vats. Each refuses to do anything
// unless it is pid 1 of its own pid namespace with a socket on fd 3, i.e. inside a vat — except
// ping, which the benchmark also runs directly as its plain fork/exec baseline (it only echoes
// what it is sent, and exits without a socket on fd 3).
package testprogs
