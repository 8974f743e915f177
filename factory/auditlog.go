package factory

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/factoryd/factoryd/store"
)

// auditWriter appends audit-log entries in the background, many per transaction, so that no
// caller waits for an fsync (the create path above all). Entries keep their order and their
// time of recording. Readers call flush first, so what a client did is in what it reads.
//
// mu guards the fields that follow; cond signals both new entries and finished writes.
type auditWriter struct {
	st  *store.Store
	log hclog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*store.AuditEntry
	queued  uint64 // entries ever queued
	written uint64 // entries ever written (or given up on)
	closed  bool
	done    chan struct{}
}

// maxAuditQueue bounds the entries waiting: past it, recording waits for the writer.
const maxAuditQueue = 4096

func newAuditWriter(st *store.Store, log hclog.Logger) *auditWriter {
	w := &auditWriter{st: st, log: log, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// record queues e, stamped now.
func (w *auditWriter) record(e store.AuditEntry) {
	e.Time = time.Now().UTC()
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) >= maxAuditQueue && !w.closed {
		w.cond.Wait()
	}
	if w.closed {
		w.log.Error("audit entry after the writer closed", "action", e.Action)
		return
	}
	w.queue = append(w.queue, &e)
	w.queued++
	w.cond.Broadcast()
}

// flush returns once every entry queued before it has been written.
func (w *auditWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.queued
	for w.written < target {
		w.cond.Wait()
	}
}

func (w *auditWriter) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		batch := w.queue
		w.queue = nil
		closed := w.closed
		w.mu.Unlock()
		if len(batch) > 0 {
			if err := w.st.AppendAudit(batch...); err != nil {
				w.log.Error("audit log append failed", "entries", len(batch), "error", err)
			}
		}
		w.mu.Lock()
		w.written += uint64(len(batch))
		w.cond.Broadcast()
		w.mu.Unlock()
		if closed && len(batch) == 0 {
			return
		}
	}
}

// close writes what is queued and stops the writer. It is idempotent.
func (w *auditWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.done
}
