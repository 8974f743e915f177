// Package client is the Go API of factoryd: it connects to the daemon's unix socket and drives
// factories and instances over Cap'n Proto RPC. factoryctl uses nothing else, and any Go
// program may use it the same way.
//
//	c, err := client.Dial(ctx, "")               // "" = the default socket
//	defer c.Close()
//	prog, err := c.UploadFile(ctx, "taxprep")
//	b, err := c.NewFactory(ctx, "tax")
//	err = b.SetProgram(ctx, prog)
//	r, _, err := b.Seal(ctx)
//	inst, err := r.Create(ctx, nil)
//	out, err := inst.Run(ctx, []byte("income=50000"))
//	inst.Release()                                // ends the instance
//
// Errors from the daemon match the sentinels of this package with errors.Is (ErrSealed,
// ErrNotFound, ...). Values of this package that hold capabilities must be released.
package client
