// Package program is the SDK a confined program imports. A program started by factoryd finds
// the daemon on fd 3; this package connects to it, hands the program what it was created with
// (its factory's components and its requestor's arguments, as an *Env) and publishes the one
// capability the program exports:
//
//	func main() {
//		program.Main(func(ctx context.Context, env *program.Env) (capnp.Client, error) {
//			return capnp.Client(mypb.Store_ServerToClient(newStore())), nil
//		})
//	}
//
// or, for a program that computes one output from one input (what `factoryctl run` drives):
//
//	program.MainJob(func(ctx context.Context, env *program.Env, input []byte) ([]byte, error) { ... })
//
// A program serves until the daemon hangs up, which happens when its instance ends. It has no
// other channel: no files, no network, no environment, and what it writes to stdout and stderr
// reaches only its requestor's debug sink, if the requestor gave one.
package program
