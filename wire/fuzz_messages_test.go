package wire

import (
	"testing"
	"time"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire/hostile"
)

// FuzzMessages sends well-formed RPC messages built from the fuzz input, so that the fuzzer
// explores calls, returns, finishes, releases, resolves and disembargoes rather than framing
// noise. Ids are small, so that messages name each other. The input is a program:
//
//	byte 0            the server (fuzzServers)
//	then, repeated    an op byte and its operands (see messageOps)
func FuzzMessages(f *testing.F) {
	for _, s := range messageSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) == 0 {
			return
		}
		fuzzServe(t, prog[0], func(p *peer, g *gate) {
			r := &opReader{b: prog[1:]}
			for n := 0; !r.done() && n < 64; n++ {
				runOp(p, g, r)
			}
			g.open()
		})
	})
}

// The ops. Each reads its operands from the input, zero once it is exhausted.
const (
	opBootstrap  = iota // q
	opCall              // q, target, method, caps
	opReturn            // q, caps  (results: one pointer per capability, then data)
	opException         // q
	opFinish            // q, release
	opRelease           // id, count
	opResolve           // id, cap
	opDisembargo        // context (0 sender, 1 receiver, 2 accept), target, id
	opOpenGate          //
	opPause             // a millisecond for the server to move
	opCount
)

// fuzzMethods are the methods calls pick from: the test servers' own, other interfaces of the
// schema, and an interface no one knows.
var fuzzMethods = []hostile.Method{
	uploadWrite, uploadCommit, blobSize, blobRead, verifyYield, publish,
	{Interface: schema.VatHost_TypeID, ID: 0},
	{Interface: schema.Daemon_TypeID, ID: 0},
	{Interface: schema.Requestor_TypeID, ID: 4},
	{Interface: 0x8000_0000_0000_0001, ID: 0},
}

type opReader struct {
	b []byte
}

func (r *opReader) done() bool { return len(r.b) == 0 }

func (r *opReader) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// id is a small id: questions, exports and embargoes collide often.
func (r *opReader) id() uint32 { return uint32(r.next() & 0x0f) }

// fields is a transform of up to three small pointer fields: count in the top two bits.
func (r *opReader) fields() []uint16 {
	n := r.next() >> 6
	out := make([]uint16, n)
	for i := range out {
		out[i] = uint16(r.next() & 0x03)
	}
	return out
}

// target: top bit set, an import; else an answer and a transform.
func (r *opReader) target() hostile.Target {
	t := r.next()
	if t&0x80 != 0 {
		return hostile.Import(uint32(t & 0x0f))
	}
	return hostile.Answer(uint32(t&0x0f), r.fields()...)
}

func (r *opReader) method() hostile.Method {
	return fuzzMethods[int(r.next())%len(fuzzMethods)]
}

func (r *opReader) cap() hostile.Cap {
	switch kind, id := r.next()%5, r.id(); kind {
	case 0:
		return hostile.SenderHosted(id)
	case 1:
		return hostile.SenderPromise(id)
	case 2:
		return hostile.ReceiverHosted(id)
	case 3:
		return hostile.ReceiverAnswer(id, r.fields()...)
	default:
		return hostile.NoCap()
	}
}

func (r *opReader) payload() hostile.Payload {
	caps := make([]hostile.Cap, r.next()%4)
	for i := range caps {
		caps[i] = r.cap()
	}
	return hostile.Payload{DataWords: 2, Ptrs: 2, Caps: caps}
}

func runOp(p *peer, g *gate, r *opReader) {
	switch r.next() % opCount {
	case opBootstrap:
		p.send(hostile.Bootstrap(r.id()))
	case opCall:
		q, t, m := r.id(), r.target(), r.method()
		p.send(hostile.Call(q, t, m, r.payload()))
	case opReturn:
		q := r.id()
		p.send(hostile.Return(q, r.payload()))
	case opException:
		p.send(hostile.ReturnException(r.id(), "no"))
	case opFinish:
		q := r.id()
		p.send(hostile.Finish(q, r.next()&1 == 1))
	case opRelease:
		id := r.id()
		p.send(hostile.Release(id, uint32(r.next()%3)))
	case opResolve:
		id := r.id()
		p.send(hostile.Resolve(id, r.cap()))
	case opDisembargo:
		kind, t, id := r.next()%3, r.target(), r.id()
		switch kind {
		case 0:
			p.send(hostile.SenderLoopback(t, id))
		case 1:
			p.send(hostile.ReceiverLoopback(t, id))
		default:
			p.send(hostile.AcceptDisembargo(t))
		}
	case opOpenGate:
		g.open()
	case opPause:
		time.Sleep(time.Millisecond)
	}
}

// messageSeeds are the failure modes and ordinary traffic, as op programs.
func messageSeeds() [][]byte {
	const upload, caller, classifier = 0, 1, 2
	const imp0 = 0x80                            // target: import 0
	ans := func(q byte, fields ...byte) []byte { // target: answer q with fields
		return append([]byte{q, byte(len(fields)) << 6}, fields...)
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	// method indexes in fuzzMethods
	const mWrite, mCommit, mSize, mRead, mVerify, mPublish = 0, 1, 2, 3, 4, 5
	boot := []byte{opBootstrap, 0}
	return [][]byte{
		// Ordinary: writes, a commit, calls pipelined on its blob, finishes.
		cat([]byte{upload}, boot, []byte{opCall, 1}, ans(0), []byte{mWrite, 0},
			[]byte{opCall, 2}, ans(0), []byte{mCommit, 0},
			[]byte{opCall, 3}, ans(2, 1), []byte{mSize, 0},
			[]byte{opCall, 4}, ans(2, 1), []byte{mRead, 0},
			[]byte{opOpenGate, opPause, opFinish, 1, 0, opFinish, 3, 0, opFinish, 4, 0, opFinish, 2, 0}),
		// 1: a call pipelined on itself.
		cat([]byte{upload}, boot, []byte{opCall, 1}, ans(1), []byte{mWrite, 0}),
		// 2: pipelined on commit's data field; on its blob with a foreign method.
		cat([]byte{upload}, boot, []byte{opCall, 1}, ans(0), []byte{mCommit, 0},
			[]byte{opCall, 2}, ans(1, 0), []byte{mSize, 0, opOpenGate}),
		cat([]byte{upload}, boot, []byte{opCall, 1}, ans(0), []byte{mCommit, 0},
			[]byte{opCall, 2}, ans(1, 1), []byte{mWrite, 0, opOpenGate}),
		// 3: publish waits for the peer, who answers late or never.
		cat([]byte{caller}, boot, []byte{opCall, 1, imp0, mPublish, 1, 0, 5, opPause, opReturn, 0, 0}),
		// Resolve to the server's own capability, then lift.
		cat([]byte{caller}, boot, []byte{opCall, 1, imp0, mPublish, 1, 1, 7, opPause,
			opResolve, 7, 2, 0, opPause, opDisembargo, 1, 0x87, 0}),
		// Sender loopback on a void answer.
		cat([]byte{upload}, boot, []byte{opCall, 1}, ans(0), []byte{mWrite, 0, opPause, opDisembargo, 0}, ans(1), []byte{0}),
		// A capability naming a call in progress, to a method that calls it and to one that
		// only looks at it.
		cat([]byte{caller}, boot, []byte{opCall, 1, imp0, mPublish, 1, 0, 5,
			opCall, 2, imp0, mPublish, 1, 3, 1, 1 << 6, 0, opPause, opReturn, 0, 0}),
		cat([]byte{classifier}, boot, []byte{opCall, 1, imp0, mVerify, 1, 1, 7,
			opCall, 2, imp0, mVerify, 1, 3, 1, 1 << 6, 0, opResolve, 7, 0, 8}),
	}
}
