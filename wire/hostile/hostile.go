// Package hostile writes the Cap'n Proto RPC frames a hostile peer sends: well-formed messages
// of the shapes that crash, wedge or exhaust capnp-go v3.1.0-alpha.2 (notes/capnp-go.md,
// "Hostile peers"), built by hand so that nothing in between can refuse them. The regression
// tests and fuzz targets of package wire and the garbage test program use it. It builds bytes;
// Reader decodes what the other side answers.
//
// Question ids are the caller's: a frame that names question q is a message about the answer
// q of the receiver.
package hostile

import (
	"encoding/binary"
	"errors"
	"io"

	capnp "capnproto.org/go/capnp/v3"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// Builder fills in one RPC message.
type Builder func(rpccp.Message) error

// Frame returns the message b builds, framed for a byte stream.
func Frame(b Builder) ([]byte, error) {
	msg, seg, err := capnp.NewMessage(capnp.MultiSegment(nil))
	if err != nil {
		return nil, err
	}
	defer msg.Release()
	m, err := rpccp.NewRootMessage(seg)
	if err != nil {
		return nil, err
	}
	if err := b(m); err != nil {
		return nil, err
	}
	return msg.Marshal()
}

// Frames concatenates the frames of bs.
func Frames(bs ...Builder) ([]byte, error) {
	var out []byte
	for _, b := range bs {
		f, err := Frame(b)
		if err != nil {
			return nil, err
		}
		out = append(out, f...)
	}
	return out, nil
}

// MustFrames is Frames for fixed messages that cannot fail to build; it panics otherwise.
func MustFrames(bs ...Builder) []byte {
	out, err := Frames(bs...)
	if err != nil {
		panic("hostile: " + err.Error())
	}
	return out
}

// OversizedHeader is a frame header claiming one segment of 64 MiB, with no segment after it:
// a reader without a size limit allocates 64 MiB for it (failure mode 4).
func OversizedHeader() []byte {
	hdr := make([]byte, 8)
	binary.LittleEndian.PutUint32(hdr[0:], 0)     // one segment
	binary.LittleEndian.PutUint32(hdr[4:], 8<<20) // of 8 Mi words
	return hdr
}

// Method names a method on the wire.
type Method struct {
	Interface uint64
	ID        uint16
}

// Target fills in the target of a call or disembargo.
type Target func(rpccp.MessageTarget) error

// Import targets the capability the sender imported as id (the receiver's export id).
func Import(id uint32) Target {
	return func(t rpccp.MessageTarget) error {
		t.SetImportedCap(id)
		return nil
	}
}

// Answer targets the capability at fields (pointer field indexes, outermost first) of the
// results of the receiver's answer to question q; no fields means the result itself.
func Answer(q uint32, fields ...uint16) Target {
	return func(t rpccp.MessageTarget) error {
		pa, err := t.NewPromisedAnswer()
		if err != nil {
			return err
		}
		return setPromisedAnswer(pa, q, fields)
	}
}

func setPromisedAnswer(pa rpccp.PromisedAnswer, q uint32, fields []uint16) error {
	pa.SetQuestionId(q)
	ops, err := pa.NewTransform(int32(len(fields)))
	if err != nil {
		return err
	}
	for i, f := range fields {
		ops.At(i).SetGetPointerField(f)
	}
	return nil
}

// Cap fills in one capability descriptor.
type Cap func(rpccp.CapDescriptor) error

// SenderHosted describes a capability the sender exports as id.
func SenderHosted(id uint32) Cap {
	return func(d rpccp.CapDescriptor) error { d.SetSenderHosted(id); return nil }
}

// SenderPromise describes a promise the sender exports as id.
func SenderPromise(id uint32) Cap {
	return func(d rpccp.CapDescriptor) error { d.SetSenderPromise(id); return nil }
}

// ReceiverHosted describes the receiver's own export id.
func ReceiverHosted(id uint32) Cap {
	return func(d rpccp.CapDescriptor) error { d.SetReceiverHosted(id); return nil }
}

// ReceiverAnswer describes the capability at fields of the receiver's answer to question q.
func ReceiverAnswer(q uint32, fields ...uint16) Cap {
	return func(d rpccp.CapDescriptor) error {
		pa, err := d.NewReceiverAnswer()
		if err != nil {
			return err
		}
		return setPromisedAnswer(pa, q, fields)
	}
}

// Payload is the content of a call's parameters or a return's results: a struct with the given
// data and pointer words whose pointer fields hold, in order, the capabilities caps (the
// capability table lists them in the same order). Fill, if not nil, sets data fields.
type Payload struct {
	DataWords uint16
	Ptrs      uint16
	Fill      func(capnp.Struct) error
	Caps      []Cap
}

func (p Payload) build(out rpccp.Payload) error {
	n := max(p.Ptrs, uint16(len(p.Caps)))
	s, err := capnp.NewStruct(out.Segment(), capnp.ObjectSize{DataSize: capnp.Size(p.DataWords) * 8, PointerCount: n})
	if err != nil {
		return err
	}
	if p.Fill != nil {
		if err := p.Fill(s); err != nil {
			return err
		}
	}
	for i := range p.Caps {
		iface := capnp.NewInterface(out.Segment(), capnp.CapabilityID(i))
		if err := s.SetPtr(uint16(i), iface.ToPtr()); err != nil {
			return err
		}
	}
	if err := out.SetContent(s.ToPtr()); err != nil {
		return err
	}
	table, err := out.NewCapTable(int32(len(p.Caps)))
	if err != nil {
		return err
	}
	for i, c := range p.Caps {
		if err := c(table.At(i)); err != nil {
			return err
		}
	}
	return nil
}

// Bootstrap asks for the receiver's bootstrap capability as question q.
func Bootstrap(q uint32) Builder {
	return func(m rpccp.Message) error {
		b, err := m.NewBootstrap()
		if err != nil {
			return err
		}
		b.SetQuestionId(q)
		return nil
	}
}

// Call calls method m on t as question q.
func Call(q uint32, t Target, m Method, params Payload) Builder {
	return func(msg rpccp.Message) error {
		c, err := msg.NewCall()
		if err != nil {
			return err
		}
		c.SetQuestionId(q)
		c.SetInterfaceId(m.Interface)
		c.SetMethodId(m.ID)
		tgt, err := c.NewTarget()
		if err != nil {
			return err
		}
		if err := t(tgt); err != nil {
			return err
		}
		p, err := c.NewParams()
		if err != nil {
			return err
		}
		return params.build(p)
	}
}

// Return answers the receiver's question q with results.
func Return(q uint32, results Payload) Builder {
	return func(m rpccp.Message) error {
		r, err := m.NewReturn()
		if err != nil {
			return err
		}
		r.SetAnswerId(q)
		r.SetReleaseParamCaps(false)
		p, err := r.NewResults()
		if err != nil {
			return err
		}
		return results.build(p)
	}
}

// ReturnException answers the receiver's question q with an exception.
func ReturnException(q uint32, reason string) Builder {
	return func(m rpccp.Message) error {
		r, err := m.NewReturn()
		if err != nil {
			return err
		}
		r.SetAnswerId(q)
		e, err := r.NewException()
		if err != nil {
			return err
		}
		return e.SetReason(reason)
	}
}

// Finish ends the sender's question q.
func Finish(q uint32, releaseResultCaps bool) Builder {
	return func(m rpccp.Message) error {
		f, err := m.NewFinish()
		if err != nil {
			return err
		}
		f.SetQuestionId(q)
		f.SetReleaseResultCaps(releaseResultCaps)
		return nil
	}
}

// Release drops count references to the receiver's export id.
func Release(id, count uint32) Builder {
	return func(m rpccp.Message) error {
		r, err := m.NewRelease()
		if err != nil {
			return err
		}
		r.SetId(id)
		r.SetReferenceCount(count)
		return nil
	}
}

// Resolve resolves the sender's promise export id to c.
func Resolve(id uint32, c Cap) Builder {
	return func(m rpccp.Message) error {
		r, err := m.NewResolve()
		if err != nil {
			return err
		}
		r.SetPromiseId(id)
		d, err := r.NewCap()
		if err != nil {
			return err
		}
		return c(d)
	}
}

// SenderLoopback asks the receiver to echo a disembargo with id back along t.
func SenderLoopback(t Target, id uint32) Builder {
	return func(m rpccp.Message) error {
		d, err := m.NewDisembargo()
		if err != nil {
			return err
		}
		tgt, err := d.NewTarget()
		if err != nil {
			return err
		}
		if err := t(tgt); err != nil {
			return err
		}
		d.Context().SetSenderLoopback(id)
		return nil
	}
}

// ReceiverLoopback lifts the receiver's embargo id.
func ReceiverLoopback(t Target, id uint32) Builder {
	return func(m rpccp.Message) error {
		d, err := m.NewDisembargo()
		if err != nil {
			return err
		}
		tgt, err := d.NewTarget()
		if err != nil {
			return err
		}
		if err := t(tgt); err != nil {
			return err
		}
		d.Context().SetReceiverLoopback(id)
		return nil
	}
}

// Reader decodes the frames the other side writes.
type Reader struct {
	dec *capnp.Decoder
}

// NewReader reads frames from r, refusing any over 1 MiB.
func NewReader(r io.Reader) *Reader {
	dec := capnp.NewDecoder(r)
	dec.MaxMessageSize = 1 << 20
	return &Reader{dec: dec}
}

// Next returns the next message; the caller releases it with m.Message().Release().
func (r *Reader) Next() (rpccp.Message, error) {
	msg, err := r.dec.Decode()
	if err != nil {
		return rpccp.Message{}, err
	}
	return rpccp.ReadRootMessage(msg)
}

// ErrNoAnswer is returned by AwaitReturn when the stream ends first.
var ErrNoAnswer = errors.New("hostile: no return for the question")

// AwaitReturn reads until the return for question q, which it hands to f before releasing it;
// other messages are dropped.
func (r *Reader) AwaitReturn(q uint32, f func(rpccp.Return) error) error {
	for {
		m, err := r.Next()
		if err != nil {
			return errors.Join(ErrNoAnswer, err)
		}
		if m.Which() == rpccp.Message_Which_return {
			ret, err := m.Return()
			if err == nil && ret.AnswerId() == q {
				err = f(ret)
				m.Message().Release()
				return err
			}
		}
		m.Message().Release()
	}
}

// NoCap describes the null capability.
func NoCap() Cap {
	return func(d rpccp.CapDescriptor) error { d.SetNone(); return nil }
}

// AcceptDisembargo sends a disembargo of the three-party kind, which a two-party vat does not
// implement.
func AcceptDisembargo(t Target) Builder {
	return func(m rpccp.Message) error {
		d, err := m.NewDisembargo()
		if err != nil {
			return err
		}
		tgt, err := d.NewTarget()
		if err != nil {
			return err
		}
		if err := t(tgt); err != nil {
			return err
		}
		return d.Context().SetAccept([]byte("embargo"))
	}
}
