package wire

import (
	"errors"
	"fmt"
	"sync"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/server"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// ErrRefused is what a connection ends with when its peer sends a message of a shape the
// validator refuses (see the package doc). The rpc.Conn reports it through Options.Logger.
var ErrRefused = errors.New("wire: refused message from peer")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// The validator sees every message of one connection: inbound ones before the rpc layer does,
// outbound ones just before they are written. It mirrors the part of the rpc layer's tables
// its rules need, from the wire alone:
//
//   - answers: the peer's questions to this side, from the peer's Bootstrap or Call until both
//     this side's Return went out and the peer's Finish came in (the rpc layer drops an answer
//     at the same point, rpc/answer.go destroy);
//   - questions: this side's questions, from its Call or Bootstrap to the peer's Return, with
//     the method asked;
//   - exports: this side's export ids with their reference counts, and whether each names a
//     server.Server of this process (not a forwarder, an import or a promise);
//   - imports: the peer's export ids this side holds, from the first descriptor naming one to
//     this side's Release, and what each promise resolved to.
//
// It learns of a Return just before writing it, which is after the rpc layer marked the
// answer returned (answer.go completeSendReturn sets resultsReady, then queues the message):
// an answer it holds returned is returned for the rpc layer too; the converse may lag, which
// only makes the validator stricter.
//
// Concurrency: inbound runs on the transport's reader goroutine, outbound on its sender; mu
// guards the fields that follow it. Neither calls into the rpc layer or any capability, save
// outbound reading the brand of the capabilities a message it encodes holds.
type validator struct {
	t          *schemaTables
	maxPending int
	maxAnswers int

	mu        sync.Mutex
	answers   map[uint32]*answer
	pending   int // answers whose Return has not gone out
	questions map[uint32]question
	exports   map[uint32]*export
	uncertain int // Finish messages whose release of result caps is not yet mirrored
	imports   map[uint32]*imported
}

type answer struct {
	method   methodKey
	ready    bool // the rpc layer answers pipelined calls from its results (returned, or bootstrap)
	returned bool // this side's Return went out
	results  bool // ... carrying results (not an exception, not void)
	finished bool // the peer's Finish came in
	queued   bool // it was pipelined on a call in progress: it waits in that call's queue

	exports         map[uint32]uint32 // export references its Return carried
	releaseOnReturn bool              // the peer's Finish asked to release them
}

type question struct {
	method methodKey
	boot   bool
}

type export struct {
	refs  uint32
	local bool
}

// imported is a capability the peer hosts: refs counts the descriptors naming it, less those
// this side released (the rpc layer releases the count its entry had, import.go Shutdown; a
// descriptor arriving meanwhile starts a fresh entry there). to is the import a promise
// resolved to, if resolved to one.
type imported struct {
	refs     uint32
	to       uint32
	resolved bool
}

// maxPromiseChain bounds the chain of promises resolved to promises a Resolve may extend.
const maxPromiseChain = 64

func newValidator(t *schemaTables, o Options) *validator {
	return &validator{t: t, maxPending: o.MaxPendingCalls, maxAnswers: o.MaxAnswers,
		answers: map[uint32]*answer{}, questions: map[uint32]question{}, exports: map[uint32]*export{},
		imports: map[uint32]*imported{}}
}

// inbound checks a message from the peer. An error ends the connection. A message the rpc
// layer cannot read is left to it (it reports and drops such messages).
func (v *validator) inbound(msg *capnp.Message) error {
	m, err := rpccp.ReadRootMessage(msg)
	if err != nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch m.Which() {
	case rpccp.Message_Which_bootstrap:
		return v.bootstrapLocked(m)
	case rpccp.Message_Which_call:
		return v.callLocked(m)
	case rpccp.Message_Which_return:
		return v.returnLocked(m)
	case rpccp.Message_Which_finish:
		return v.finishLocked(m)
	case rpccp.Message_Which_resolve:
		return v.resolveLocked(m)
	case rpccp.Message_Which_disembargo:
		return v.disembargoLocked(m)
	case rpccp.Message_Which_release:
		v.releaseLocked(m)
	case rpccp.Message_Which_unimplemented:
		v.unimplementedLocked(m)
	}
	return nil
}

func (v *validator) bootstrapLocked(m rpccp.Message) error {
	b, err := m.Bootstrap()
	if err != nil {
		return nil
	}
	// The rpc layer returns a bootstrap before it reads the next message (rpc.go
	// handleBootstrap): it is ready at once.
	return v.addAnswerLocked(b.QuestionId(), &answer{ready: true})
}

func (v *validator) addAnswerLocked(id uint32, a *answer) error {
	if _, ok := v.answers[id]; ok {
		return refuse("question %d reused while its answer is held", id)
	}
	v.answers[id] = a
	v.pending++
	if v.pending > v.maxPending {
		return refuse("more than %d calls in progress", v.maxPending)
	}
	if len(v.answers) > v.maxAnswers {
		return refuse("more than %d answers not finished", v.maxAnswers)
	}
	return nil
}

func (v *validator) callLocked(m rpccp.Message) error {
	c, err := m.Call()
	if err != nil {
		return nil
	}
	if c.SendResultsTo().Which() != rpccp.Call_sendResultsTo_Which_caller {
		return nil // answered with unimplemented; no answer is kept (rpc.go handleCall)
	}
	id := c.QuestionId()
	key := methodKey{c.InterfaceId(), c.MethodId()}
	a := &answer{method: key}
	tgt, err := c.Target()
	if err == nil {
		if a.queued, err = v.targetLocked(tgt, key); err != nil {
			return err
		}
	}
	if params, err := c.Params(); err == nil {
		if err := v.callCapsLocked(params, key, tgt); err != nil {
			return err
		}
	}
	return v.addAnswerLocked(id, a)
}

// targetLocked checks a call's target and reports whether the call will wait in the queue of
// the call it is pipelined on.
func (v *validator) targetLocked(tgt rpccp.MessageTarget, key methodKey) (queued bool, err error) {
	if tgt.Which() != rpccp.MessageTarget_Which_promisedAnswer {
		return false, nil
	}
	q, fields, err := readPromisedAnswer(tgt.PromisedAnswer())
	if err != nil {
		return false, err
	}
	a, err := v.liveAnswerLocked(q)
	if err != nil {
		return false, fmt.Errorf("call target: %w", err)
	}
	if a.ready {
		return false, nil
	}
	return true, v.pipelineLocked(q, a, fields, key)
}

// liveAnswerLocked returns the answer to question q that a message may name: one the peer has
// not finished. A call naming its own question id is refused here: its answer is not in the
// table yet (failure mode 1: the rpc layer would pipeline the call on itself, rpc.go:956-961,
// and dereference a nil PipelineCaller).
func (v *validator) liveAnswerLocked(q uint32) (*answer, error) {
	a := v.answers[q]
	if a == nil || a.finished {
		return nil, refuse("question %d is not an answer in progress", q)
	}
	return a, nil
}

// pipelineLocked checks a call pipelined on the answer a to question q, still in progress.
//
// The rpc layer hands such a call to the PipelineCaller of the target call. For a call served
// here that is the server's AnswerQueue: the call waits in it, and when the target call
// returns, AnswerQueue.Fulfill delivers it to the capability at fields of the results
// (answerqueue.go:98-105). If that delivery returns no PipelineCaller — no capability there
// (failure mode 2), a method the capability does not implement (server.go:152-160), a
// released, broken or revoked capability — Fulfill dereferences nil on a server goroutine
// and the process dies. So a pipelined call is let through only when the field is declared
// with an interface of factoryd's schema and the call is a method of that interface: the
// daemon fills such a field, when the call succeeds, with a server of that interface (an
// invariant of package factory). A failed call rejects the queue instead (safe).
//
// A call to an interface the schema does not know is not served here: the daemon forwards it
// (to a yield, or to a client's capability), and the PipelineCaller is the forwarded question
// (import.go:190-208), to which the pipelined call is forwarded at once (question.go:235-254),
// with no local queue. But the rpc layer then remembers the field as called on that question
// (question.go:146), and if the other peer returns a capability hosted here at that field, it
// builds an embargo (rpc.go:1282-1301) whose queued calls are delivered the same way, by
// AnswerQueue.Fulfill (export.go:331-333), to a local object that does not implement them. The
// other side's validator cannot know which fields were called without racing the rpc layer;
// it refuses local capabilities at the fields this check admits (returnLocked), so this check
// must admit nothing else: calls pipelined on a call in progress to an unknown interface are
// refused. Once the target call has returned, pipelining on it is always admitted: the rpc
// layer then calls the capability in the results directly (rpc.go:905-950), no queue.
//
// A field declared as an untyped capability is admitted only where the daemon puts a
// forwarder (forwardingFields: Requestor.create's instance, on which client.CreateAndRun
// pipelines Job.run), with any method: the call is delivered to caps.Forwarder.Recv, which
// passes it on to the yield as a plain call (import.go:190-208: no local queue, no field
// marked). That is sound only if Forwarder.Recv never returns nil; it does, at the time of
// writing, when the forwarder is revoked or its target refuses the call (a null export, a
// yield already gone) — see TestRunOnAHostileYield in tests/hostile_test.go.
//
// A call pipelined on a call that itself waits in a queue is refused too: when delivered,
// it goes through the first call's queue, whose PipelineRecv returns nil if the call's context
// is done (answerqueue.go:158-162), e.g. because the peer sent Finish.
func (v *validator) pipelineLocked(q uint32, a *answer, fields []uint16, key methodKey) error {
	if a.queued {
		return refuse("call pipelined on question %d, which waits on another call", q)
	}
	caps, ok := v.t.capFields[a.method]
	if !ok {
		return refuse("call pipelined on question %d, a call in progress to interface %#x unknown here",
			q, a.method.iface)
	}
	if len(fields) == 1 {
		for _, f := range caps {
			if f.ptr != fields[0] {
				continue
			}
			if !v.t.serves(f.iface, key) {
				return refuse("call %#x.%d pipelined on question %d: not a method of interface %#x",
					key.iface, key.id, q, f.iface)
			}
			return nil
		}
	}
	return refuse("call pipelined on question %d at %v: not a capability of its results", q, fields)
}

// readPromisedAnswer reads a question id and its transform, without its no-ops (as the rpc
// layer does, rpc.go parseTransform).
func readPromisedAnswer(pa rpccp.PromisedAnswer, err error) (uint32, []uint16, error) {
	if err != nil {
		return 0, nil, refuse("unreadable promised answer: %v", err)
	}
	ops, err := pa.Transform()
	if err != nil {
		return 0, nil, refuse("unreadable transform: %v", err)
	}
	var fields []uint16
	for i := 0; i < ops.Len(); i++ {
		switch op := ops.At(i); op.Which() {
		case rpccp.PromisedAnswer_Op_Which_noop:
		case rpccp.PromisedAnswer_Op_Which_getPointerField:
			fields = append(fields, op.GetPointerField())
		default:
			return 0, nil, refuse("transform op of unknown kind %d", op.Which())
		}
	}
	return pa.QuestionId(), fields, nil
}

// callCapsLocked checks the capabilities a call passes. A receiverAnswer naming a call in
// progress becomes a PipelineClient on that call's promise (rpc.go recvCapReceiverAnswer):
// anything that calls it before the call returns goes through the queue of pipelineLocked,
// with a method chosen by whoever holds the capability, and the same crash follows (a call to
// a yield's debug sink given as such a capability is enough). It is admitted only as the
// argument of a method that never calls nor keeps it, served by a server of this process.
func (v *validator) callCapsLocked(params rpccp.Payload, key methodKey, tgt rpccp.MessageTarget) error {
	allowPending := v.t.classifyOnly[key] && v.localTargetLocked(tgt)
	caps, err := params.CapTable()
	if err != nil {
		return nil
	}
	return v.capsLocked(caps, allowPending)
}

// localTargetLocked reports whether tgt is an export of this side known to be a server here.
// A call to a forwarder would be forwarded to another peer, capabilities and all.
func (v *validator) localTargetLocked(tgt rpccp.MessageTarget) bool {
	if !tgt.IsValid() || tgt.Which() != rpccp.MessageTarget_Which_importedCap || v.uncertain > 0 {
		return false
	}
	e := v.exports[tgt.ImportedCap()]
	return e != nil && e.local
}

// capsLocked checks every receiverAnswer of a capability table: it must name an answer the
// peer has not finished and, unless allowPending, one that has returned (then the rpc layer
// resolves it to the capability in the results at once).
func (v *validator) capsLocked(caps rpccp.CapDescriptor_List, allowPending bool) error {
	for i := 0; i < caps.Len(); i++ {
		d := caps.At(i)
		v.importLocked(d)
		if d.Which() != rpccp.CapDescriptor_Which_receiverAnswer {
			continue
		}
		q, _, err := readPromisedAnswer(d.ReceiverAnswer())
		if err != nil {
			return err
		}
		a, err := v.liveAnswerLocked(q)
		if err != nil {
			return fmt.Errorf("capability %d: %w", i, err)
		}
		if !a.ready && !allowPending {
			return refuse("capability %d names question %d, a call in progress", i, q)
		}
	}
	return nil
}

// returnLocked checks the peer's Return to a question of this side.
//
// A capability hosted here, returned at a field this side pipelined calls on, makes the rpc
// layer embargo it (rpc.go:1282-1301): calls queue until the peer lifts the embargo or the
// connection ends, then AnswerQueue.Fulfill delivers them (export.go:331-333, rpc.go:493-498)
// to the local object, which need not implement them — the crash of pipelineLocked. Which
// fields were called is not on the wire in time, so every field a pipelined call may be admitted
// on (pipelineLocked) must not hold a capability hosted here.
func (v *validator) returnLocked(m rpccp.Message) error {
	r, err := m.Return()
	if err != nil {
		return nil
	}
	q, ok := v.questions[r.AnswerId()]
	if !ok {
		return refuse("return for question %d, which this side did not ask", r.AnswerId())
	}
	delete(v.questions, r.AnswerId())
	if r.Which() != rpccp.Return_Which_results {
		return nil
	}
	res, err := r.Results()
	if err != nil {
		return nil
	}
	caps, err := res.CapTable()
	if err != nil {
		return nil
	}
	if err := v.capsLocked(caps, false); err != nil {
		return err
	}
	content, err := res.Content()
	if err != nil {
		return nil
	}
	if q.boot {
		return checkNotLocal(content, caps, "the bootstrap capability")
	}
	for _, f := range v.t.capFields[q.method] {
		p, err := content.Struct().Ptr(f.ptr)
		if err != nil {
			continue
		}
		if err := checkNotLocal(p, caps, fmt.Sprintf("result field %d", f.ptr)); err != nil {
			return err
		}
	}
	return nil
}

// checkNotLocal refuses p if it is a capability hosted by the receiver.
func checkNotLocal(p capnp.Ptr, caps rpccp.CapDescriptor_List, what string) error {
	i := p.Interface()
	if !i.IsValid() || int64(i.Capability()) >= int64(caps.Len()) {
		return nil
	}
	switch caps.At(int(i.Capability())).Which() {
	case rpccp.CapDescriptor_Which_receiverHosted, rpccp.CapDescriptor_Which_receiverAnswer:
		return refuse("%s returned is hosted by the receiver", what)
	}
	return nil
}

func (v *validator) finishLocked(m rpccp.Message) error {
	f, err := m.Finish()
	if err != nil {
		return nil
	}
	id := f.QuestionId()
	a, err := v.liveAnswerLocked(id)
	if err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	a.finished = true
	if f.ReleaseResultCaps() {
		if a.returned {
			v.releaseExportsLocked(a.exports)
		} else {
			a.releaseOnReturn = true
			v.uncertain++
		}
	}
	if a.returned {
		delete(v.answers, id)
	}
	return nil
}

// resolveLocked refuses a promise resolved to a capability hosted here: the rpc layer embargoes
// it (rpc.go:1879-1899), with the consequences told at returnLocked. It also refuses a promise
// resolved to itself, or to a promise that leads back to it: the rpc layer resolves the
// promise to its own import client (import.go addImport returns the existing one), and
// capnp.clientCursor.compress (capability.go:156-175), run on the receive goroutine, then
// follows the cycle forever — the connection spins, and Close waits for it forever.
func (v *validator) resolveLocked(m rpccp.Message) error {
	r, err := m.Resolve()
	if err != nil {
		return nil
	}
	p := r.PromiseId()
	promise := v.imports[p]
	if promise == nil {
		return refuse("resolve of promise %d, which this side does not hold", p)
	}
	if r.Which() != rpccp.Resolve_Which_cap {
		promise.resolved = false
		return nil
	}
	d, err := r.Cap()
	if err != nil {
		return nil
	}
	switch d.Which() {
	case rpccp.CapDescriptor_Which_receiverHosted, rpccp.CapDescriptor_Which_receiverAnswer:
		return refuse("promise %d resolved to a capability hosted by the receiver", p)
	}
	to, ok := importID(d)
	if !ok {
		promise.resolved = false
		return nil
	}
	v.importLocked(d)
	for q, n := to, 0; ; n++ {
		if q == p {
			return refuse("promise %d resolved to itself", p)
		}
		if n == maxPromiseChain {
			return refuse("promise %d resolved to a chain of more than %d promises", p, maxPromiseChain)
		}
		next := v.imports[q]
		if next == nil || !next.resolved {
			break
		}
		q = next.to
	}
	promise.to, promise.resolved = to, true
	return nil
}

// importID returns the import of this side a descriptor from the peer names, if any.
func importID(d rpccp.CapDescriptor) (uint32, bool) {
	switch d.Which() {
	case rpccp.CapDescriptor_Which_senderHosted:
		return d.SenderHosted(), true
	case rpccp.CapDescriptor_Which_senderPromise:
		return d.SenderPromise(), true
	case rpccp.CapDescriptor_Which_thirdPartyHosted:
		// Without three-party handoff the rpc layer imports the vine (rpc.go:1400-1414).
		tp, err := d.ThirdPartyHosted()
		if err != nil {
			return 0, false
		}
		return tp.VineId(), true
	}
	return 0, false
}

// importLocked counts the import a descriptor from the peer names.
func (v *validator) importLocked(d rpccp.CapDescriptor) {
	id, ok := importID(d)
	if !ok {
		return
	}
	i := v.imports[id]
	if i == nil {
		i = &imported{}
		v.imports[id] = i
	}
	i.refs++
}

// releasedImportLocked mirrors this side's Release of count references to import id.
func (v *validator) releasedImportLocked(id, count uint32) {
	i := v.imports[id]
	if i == nil {
		return
	}
	if count >= i.refs {
		delete(v.imports, id)
		return
	}
	// References arrived after the rpc layer dropped its entry: a fresh, unresolved one.
	i.refs -= count
	i.resolved = false
}

// disembargoLocked refuses a sender-loopback disembargo aimed at an answer that has not
// returned results: for an answer that returned without results (a void method), the rpc
// layer reads the capability table of a nil message (rpc.go:1828, message.go:249).
func (v *validator) disembargoLocked(m rpccp.Message) error {
	d, err := m.Disembargo()
	if err != nil || d.Context().Which() != rpccp.Disembargo_context_Which_senderLoopback {
		return nil
	}
	tgt, err := d.Target()
	if err != nil || tgt.Which() != rpccp.MessageTarget_Which_promisedAnswer {
		return nil
	}
	q, _, err := readPromisedAnswer(tgt.PromisedAnswer())
	if err != nil {
		return err
	}
	if a := v.answers[q]; a == nil || !a.returned || !a.results {
		return refuse("disembargo on question %d, which has returned no results", q)
	}
	return nil
}

func (v *validator) releaseLocked(m rpccp.Message) {
	r, err := m.Release()
	if err != nil {
		return
	}
	v.dropExportLocked(r.Id(), r.ReferenceCount())
}

// unimplementedLocked mirrors rpc.go handleUnimplemented: a resolve this side sent, echoed
// back, drops the reference the resolve carried.
func (v *validator) unimplementedLocked(m rpccp.Message) {
	u, err := m.Unimplemented()
	if err != nil || u.Which() != rpccp.Message_Which_resolve {
		return
	}
	r, err := u.Resolve()
	if err != nil || r.Which() != rpccp.Resolve_Which_cap {
		return
	}
	d, err := r.Cap()
	if err != nil {
		return
	}
	switch d.Which() {
	case rpccp.CapDescriptor_Which_senderHosted:
		v.dropExportLocked(d.SenderHosted(), 1)
	case rpccp.CapDescriptor_Which_senderPromise:
		v.dropExportLocked(d.SenderPromise(), 1)
	}
}

func (v *validator) dropExportLocked(id, count uint32) {
	e := v.exports[id]
	if e == nil {
		return // the rpc layer refuses it
	}
	if count >= e.refs {
		delete(v.exports, id)
		return
	}
	e.refs -= count
}

func (v *validator) releaseExportsLocked(refs map[uint32]uint32) {
	for id, n := range refs {
		v.dropExportLocked(id, n)
	}
}

// outbound records a message this side is about to write, and returns the question it asks,
// if it asks one. It never fails: the messages are the rpc layer's own.
func (v *validator) outbound(msg *capnp.Message) (q uint32, asks bool) {
	m, err := rpccp.ReadRootMessage(msg)
	if err != nil {
		return 0, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch m.Which() {
	case rpccp.Message_Which_return:
		v.sentReturnLocked(m, msg.CapTable())
	case rpccp.Message_Which_call:
		c, err := m.Call()
		if err != nil {
			return 0, false
		}
		v.questions[c.QuestionId()] = question{method: methodKey{c.InterfaceId(), c.MethodId()}}
		if p, err := c.Params(); err == nil {
			v.exportsLocked(p, msg.CapTable())
		}
		return c.QuestionId(), true
	case rpccp.Message_Which_bootstrap:
		if b, err := m.Bootstrap(); err == nil {
			v.questions[b.QuestionId()] = question{boot: true}
			return b.QuestionId(), true
		}
	case rpccp.Message_Which_resolve:
		v.sentResolveLocked(m)
	case rpccp.Message_Which_release:
		if r, err := m.Release(); err == nil {
			v.releasedImportLocked(r.Id(), r.ReferenceCount())
		}
	}
	return 0, false
}

// unsent records that the message asking question q could not be written, and reports whether
// the peer's return to q was already admitted. If not, a return to q is refused from now on.
// (The sender writes one message at a time: q cannot have been asked again meanwhile.)
func (v *validator) unsent(q uint32) (answered bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.questions[q]; !ok {
		return true
	}
	delete(v.questions, q)
	return false
}

func (v *validator) sentReturnLocked(m rpccp.Message, clients *capnp.CapTable) {
	r, err := m.Return()
	if err != nil {
		return
	}
	var refs map[uint32]uint32
	hasResults := false
	if r.Which() == rpccp.Return_Which_results {
		if p, err := r.Results(); err == nil {
			refs = v.exportsLocked(p, clients)
			hasResults = p.HasContent()
		}
	}
	a := v.answers[r.AnswerId()]
	if a == nil || a.returned {
		return
	}
	a.returned, a.ready, a.results, a.exports = true, true, hasResults, refs
	v.pending--
	if a.releaseOnReturn {
		v.releaseExportsLocked(refs)
		v.uncertain--
	}
	if a.finished {
		delete(v.answers, r.AnswerId())
	}
}

func (v *validator) sentResolveLocked(m rpccp.Message) {
	r, err := m.Resolve()
	if err != nil || r.Which() != rpccp.Resolve_Which_cap {
		return
	}
	d, err := r.Cap()
	if err != nil {
		return
	}
	// The resolved capability is not in the message's table (export.go sendSenderPromise): it
	// counts as not local.
	v.addExportLocked(d, nil)
}

// exportsLocked counts the exports a payload this side sends carries, and returns them.
// clients is the message's table of capabilities, in the order of the payload's descriptors
// (export.go fillPayloadCapTable).
func (v *validator) exportsLocked(p rpccp.Payload, clients *capnp.CapTable) map[uint32]uint32 {
	caps, err := p.CapTable()
	if err != nil || caps.Len() == 0 {
		return nil
	}
	refs := map[uint32]uint32{}
	for i := 0; i < caps.Len(); i++ {
		var c capnp.Client
		if clients != nil && i < clients.Len() {
			c = clients.At(i)
		}
		if id, ok := v.addExportLocked(caps.At(i), func() bool { return isServer(c) }); ok {
			refs[id]++
		}
	}
	return refs
}

// addExportLocked counts one reference to the export d names, if d names one. local, if not
// nil, tells whether a new export is a server of this process.
func (v *validator) addExportLocked(d rpccp.CapDescriptor, local func() bool) (uint32, bool) {
	var id uint32
	switch d.Which() {
	case rpccp.CapDescriptor_Which_senderHosted:
		id = d.SenderHosted()
	case rpccp.CapDescriptor_Which_senderPromise:
		id, local = d.SenderPromise(), nil
	default:
		return 0, false
	}
	e := v.exports[id]
	if e == nil {
		e = &export{local: local != nil && local()}
		v.exports[id] = e
	}
	e.refs++
	return id, true
}

// isServer reports whether c is a server.Server of this process. It reads c's brand only.
func isServer(c capnp.Client) bool {
	if !c.IsValid() {
		return false
	}
	snap := c.Snapshot()
	defer snap.Release()
	_, ok := server.IsServer(snap.Brand())
	return ok
}
