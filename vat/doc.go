// Package vat starts confined child processes ("vats") that run a factory's program.
//
// A vat is started in two steps, because Go cannot run code between fork and exec:
//
//  1. The daemon starts a helper — its own executable, re-executed under the name
//     HelperName — in fresh user, net, ipc, uts and mount namespaces, with a control socket
//     on fd 3 and nothing else but /dev/null.
//  2. The daemon sends the helper one request over the control socket: the vat's settings and,
//     as SCM_RIGHTS, the daemon's end of nothing — only the child's ends: the RPC socket, stdout,
//     stderr and (when the daemon is root) a detached mount of the program file. The helper
//     builds an empty read-only root holding only the program, drops every privilege and starts
//     the program, which inherits fd 0 (/dev/null), 1, 2 and 3 (the RPC socket). On amd64 it
//     hands over: the program is a vfork child of the helper's, pid 1 of a pid namespace the
//     helper made and the daemon's child, which sends the daemon a pidfd of itself before its
//     exec; the helper says "started" (or names the step that failed) and exits. Elsewhere the
//     helper, in the program's pid namespace, execs the program itself; the control socket is
//     close-on-exec, so the daemon learns of a successful exec by end-of-file.
//
// The steps and the messages are tabled in docs/vat-handshake.md. The daemon signals and reaps a
// vat only through its pidfd. A program that is a vat is pid 1 of its pid namespace: when it
// exits, everything it started dies with it; it also dies with the daemon (parent-death signal).
//
// Any process that may act as the helper must call RunHelperIfRequested first thing in main
// (and in TestMain for tests that start vats).
package vat
