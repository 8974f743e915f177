package factory

import (
	"context"
	"os"
	"time"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/vat"
	"github.com/factoryd/factoryd/wire"
)

// sinkChunk bounds one DebugSink.write.
const sinkChunk = 32 << 10

// startSinks returns the write ends of pipes for the program's stdout and stderr, whose read
// ends are pumped to the requestor's debug sink. With no sink both are nil: output is
// discarded. It steals sink; the caller closes the returned files once the vat holds them.
func (i *Instance) startSinks(sink schema.DebugSink) (stdout, stderr *os.File, err error) {
	if !sink.IsValid() {
		return nil, nil, nil
	}
	pipes := []struct {
		stream schema.Stream
		w      **os.File
	}{{schema.Stream_stdout, &stdout}, {schema.Stream_stderr, &stderr}}
	pumping := 0
	for _, p := range pipes {
		var r, w *os.File
		r, w, err = os.Pipe()
		if err != nil {
			closeFiles(stdout, stderr)
			break
		}
		*p.w = w
		pumping++
		i.sinks.Add(1)
		go i.pump(r, sink.AddRef(), p.stream)
	}
	sink.Release()
	if pumping < len(pipes) {
		return nil, nil, err
	}
	return stdout, stderr, nil
}

// sinkGrace bounds how long an ended instance waits for its last output to reach the sink.
const sinkGrace = 2 * time.Second

// drainSinks waits for the pumps to deliver what the program wrote before it ended, for at
// most sinkGrace, then stops them.
func (i *Instance) drainSinks() {
	drained := make(chan struct{})
	go func() {
		i.sinks.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(sinkGrace):
	}
	i.cancel()
	<-drained
}

// pump copies one stream to the sink, one call at a time, so a slow sink slows only its own
// yield. If the sink fails, the rest of the stream is read and dropped so the yield never
// blocks on a full pipe. It ends at end-of-file (the vat exited) or when the instance ends.
func (i *Instance) pump(r *os.File, sink schema.DebugSink, stream schema.Stream) {
	defer i.sinks.Done()
	defer sink.Release()
	wire.LimitFlow(capnp.Client(sink), sinkChunk)
	defer r.Close()
	stop := context.AfterFunc(i.ctx, func() { r.Close() })
	defer stop()
	buf := make([]byte, sinkChunk)
	ok := true
	for {
		n, err := r.Read(buf)
		if n > 0 && ok {
			ok = write(i.ctx, sink, stream, buf[:n]) == nil
		}
		if err != nil {
			return
		}
	}
}

func write(ctx context.Context, sink schema.DebugSink, stream schema.Stream, data []byte) error {
	fut, release := sink.Write(ctx, func(p schema.DebugSink_write_Params) error {
		p.SetStream(stream)
		return p.SetData(data)
	})
	defer release()
	_, err := fut.Struct()
	return err
}

// serveRefusals names each syscall the vat's seccomp filter refuses to the requestor's debug
// sink (log mode: only when the requestor gave one). The refusal itself is unchanged: EPERM.
func (i *Instance) serveRefusals(proc *vat.Process) {
	sink := i.refusals
	defer sink.Release()
	if sink.IsValid() {
		wire.LimitFlow(capnp.Client(sink), sinkChunk)
	}
	seen := map[string]bool{}
	proc.ServeRefusals(func(name string) {
		if sink.IsValid() && !seen[name] {
			seen[name] = true
			msg := "factoryd: refused syscall " + name + " (EPERM; later refusals of it are not repeated)\n"
			write(i.ctx, sink, schema.Stream_stderr, []byte(msg))
		}
	})
}
