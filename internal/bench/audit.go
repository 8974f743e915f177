package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"time"

	"capnproto.org/go/capnp/v3/rpc"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/wire"
)

// AuditReport is the holes-audit figure: Requestor.holes on sealed factory graphs of several
// sizes, each against the same call on a 1-component factory, interleaved.
type AuditReport struct {
	Sizes  []AuditSize `json:"sizes"`
	Warmup int         `json:"warmup"`
}

// AuditSize is one factory graph: a root factory holding RootData data components and
// SubFactories sealed sub-factories, each holding DataPerSub data components; Components
// counts them all (data and factory components).
type AuditSize struct {
	Components   int `json:"components"`
	Factories    int `json:"factories"`
	RootData     int `json:"root_data"`
	SubFactories int `json:"sub_factories"`
	DataPerSub   int `json:"data_per_sub"`
	// BuildSeconds is how long building and sealing the graph took through package client.
	BuildSeconds float64 `json:"build_s"`
	// AnswerBytes is the size of the holes() answer message.
	AnswerBytes uint64 `json:"answer_bytes"`
	// Audit is Requestor.Holes on the graph's root, the client's round trip including
	// decoding the report (ms); Baseline the same on a factory of one data component, the
	// two alternating call by call.
	Audit    Summary `json:"audit"`
	Baseline Summary `json:"baseline"`
	RatioP50 float64 `json:"ratio_p50"`
	// DaemonCPUms and ClientCPUms are the CPU time the daemon and the benchmark process (the
	// client) used per pair of audits (one of the graph, one of the 1-component factory),
	// warm-ups included, in 10 ms ticks over all the pairs.
	DaemonCPUms float64 `json:"daemon_cpu_ms_per_pair"`
	ClientCPUms float64 `json:"client_cpu_ms_per_pair"`
	// ClientError says why package client could not audit the graph, if it could not: then
	// Audit and Baseline were measured over a connection accepting answers of up to
	// wideMessageSize bytes (Wide), decoding the report field by field as package client does.
	ClientError string `json:"client_error,omitempty"`
	Wide        bool   `json:"wide_connection"`
	// Error says why the audit could not be measured at this size at all, if it could not.
	Error string `json:"error,omitempty"`
}

// graphShape says how a graph of n components is laid out: about √n sub-factories of about
// √n data components each, the rest as data components of the root.
func graphShape(n int) AuditSize {
	s := AuditSize{Components: n, Factories: 1, RootData: n}
	if n < 3 {
		return s
	}
	subs := max(1, int(math.Sqrt(float64(n)))-1)
	per := (n - subs) / (subs + 1)
	s.SubFactories, s.DataPerSub, s.Factories = subs, per, subs+1
	s.RootData = n - subs - subs*per
	return s
}

// auditWorkers is how many sub-factories are built at once.
const auditWorkers = 4

// benchAudit builds a 1-component factory and a graph of each size, then times their audits.
func (h *harness) benchAudit(ctx context.Context, s *Sizes) (*AuditReport, error) {
	data, err := h.client.Upload(ctx, bytes.NewReader([]byte("factory-bench audit data component\n")))
	if err != nil {
		return nil, fmt.Errorf("upload data: %w", err)
	}
	one := graphShape(1)
	if err := h.buildGraph(ctx, "audit-1", &one, data); err != nil {
		return nil, err
	}
	r := &AuditReport{Warmup: s.AuditWarmup}
	for _, n := range s.AuditComponents {
		size := graphShape(n)
		h.logf("audit: building a graph of %d components (%d factories)", n, size.Factories)
		start := time.Now()
		if err := h.buildGraph(ctx, fmt.Sprintf("audit-%d", n), &size, data); err != nil {
			return nil, fmt.Errorf("audit, %d components: %w", n, err)
		}
		size.BuildSeconds = round3(time.Since(start).Seconds())
		h.logf("audit: %d+%d audits of %d components and of 1, alternating", s.AuditWarmup, s.AuditRuns, n)
		if err := h.measureAudit(ctx, s, &size); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			size.Error = err.Error()
		}
		r.Sizes = append(r.Sizes, size)
	}
	return r, nil
}

// buildGraph builds and seals the factory graph of shape s as name, its sub-factories as
// name-sub-I, every data component being the blob data.
func (h *harness) buildGraph(ctx context.Context, name string, s *AuditSize, data digest.Digest) error {
	subs := make([]*client.Requestor, s.SubFactories)
	defer func() {
		for _, r := range subs {
			r.Release()
		}
	}()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range auditWorkers {
		wg.Go(func() {
			for i := range next {
				r, err := h.sealedFactory(ctx, fmt.Sprintf("%s-sub-%d", name, i), s.DataPerSub, data, nil)
				mu.Lock()
				subs[i], firstErr = r, firstOf(firstErr, err)
				mu.Unlock()
			}
		})
	}
	for i := range subs {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	root, err := h.sealedFactory(ctx, name, s.RootData, data, subs)
	root.Release()
	return err
}

// sealedFactory makes the factory name with the ping program, n data components and the
// given sub-factories as factory components, seals it and returns its requestor facet.
func (h *harness) sealedFactory(ctx context.Context, name string, n int, data digest.Digest, subs []*client.Requestor) (*client.Requestor, error) {
	b, err := h.client.NewFactory(ctx, name)
	if err != nil {
		return nil, err
	}
	defer b.Release()
	if err := b.SetProgram(ctx, h.pingDigest); err != nil {
		return nil, err
	}
	for i := range n {
		if err := b.InstallData(ctx, fmt.Sprintf("data-%d", i), data); err != nil {
			return nil, fmt.Errorf("factory %s: %w", name, err)
		}
	}
	for i, sub := range subs {
		if err := b.InstallFactory(ctx, fmt.Sprintf("sub-%d", i), sub); err != nil {
			return nil, fmt.Errorf("factory %s: %w", name, err)
		}
	}
	return b.Seal(ctx)
}

// measureAudit measures the audits of size's graph through package client; if the client
// cannot receive the report, it measures them again over a wide connection and says why.
func (h *harness) measureAudit(ctx context.Context, s *Sizes, size *AuditSize) error {
	w, err := dialWide(ctx, h.daemon.socket)
	if err != nil {
		return err
	}
	defer w.close()
	graph, one, err := w.requestors(ctx, size.Components)
	if err != nil {
		return err
	}
	defer graph.Release()
	defer one.Release()
	components, factories, holes, bytes, err := wideHoles(ctx, graph)
	if err != nil {
		return err
	}
	if components != size.Components || factories != size.Factories || holes != 0 {
		return fmt.Errorf("the audit describes %d components in %d factories with %d holes; want %d in %d, no hole",
			components, factories, holes, size.Components, size.Factories)
	}
	size.AnswerBytes = bytes
	err = h.timeClientAudits(ctx, s, size)
	if err == nil || ctx.Err() != nil {
		return err
	}
	size.ClientError, size.Wide = err.Error(), true
	h.logf("audit: package client failed (%v); measuring over a connection for answers up to %d MiB", err, wideMessageSize>>20)
	audit := &mode{name: fmt.Sprintf("audit of %d components", size.Components), once: wideAuditOnce(graph)}
	baseline := &mode{name: "audit of 1 component", once: wideAuditOnce(one)}
	return size.time(ctx, s, h.daemon.pid(), audit, baseline)
}

// timeClientAudits alternates audits of the graph of size and of the 1-component factory
// through package client, on a connection of their own (so that a failure cannot break the
// harness's).
func (h *harness) timeClientAudits(ctx context.Context, s *Sizes, size *AuditSize) (err error) {
	c, err := client.Dial(ctx, h.daemon.socket)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}()
	graph, err := c.Requestor(ctx, fmt.Sprintf("audit-%d", size.Components))
	if err != nil {
		return err
	}
	defer graph.Release()
	one, err := c.Requestor(ctx, "audit-1")
	if err != nil {
		return err
	}
	defer one.Release()
	audit := &mode{name: fmt.Sprintf("audit of %d components", size.Components), once: auditOnce(graph)}
	baseline := &mode{name: "audit of 1 component", once: auditOnce(one)}
	return size.time(ctx, s, h.daemon.pid(), audit, baseline)
}

// time runs the two modes alternately and keeps their summaries, and the CPU time the daemon
// (daemonPid) and this process used.
func (size *AuditSize) time(ctx context.Context, s *Sizes, daemonPid int, audit, baseline *mode) error {
	d0, c0, err := cpuOf(daemonPid)
	if err != nil {
		return err
	}
	if err := interleave(ctx, s.AuditWarmup, s.AuditRuns, audit, baseline); err != nil {
		return err
	}
	d1, c1, err := cpuOf(daemonPid)
	if err != nil {
		return err
	}
	pairs := float64(s.AuditWarmup + s.AuditRuns)
	size.DaemonCPUms = round3(float64(d1-d0) / float64(time.Millisecond) / pairs)
	size.ClientCPUms = round3(float64(c1-c0) / float64(time.Millisecond) / pairs)
	size.Audit, size.Baseline = summarize(audit.samples, "ms"), summarize(baseline.samples, "ms")
	size.RatioP50 = ratio(size.Audit.P50, size.Baseline.P50)
	return nil
}

// cpuOf reads the CPU time of the daemon and of this process.
func cpuOf(daemonPid int) (daemon, self time.Duration, err error) {
	if daemon, err = cpuTime(daemonPid); err != nil {
		return 0, 0, err
	}
	self, err = cpuTime(os.Getpid())
	return daemon, self, err
}

// auditOnce times one Requestor.Holes round trip through package client.
func auditOnce(r *client.Requestor) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		_, err := r.Holes(ctx)
		return time.Since(start), err
	}
}

// wideMessageSize bounds the messages a wide connection accepts, instead of
// wire.DefaultMaxMessageSize (1 MiB).
const wideMessageSize = 64 << 20

// wideConn is a connection to the daemon like package client's, except that it accepts
// answers of up to wideMessageSize bytes.
type wideConn struct {
	conn   *rpc.Conn
	daemon schema.Daemon
}

func dialWide(ctx context.Context, socket string) (*wideConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, err
	}
	conn := wire.NewConn(nc, &wire.Options{MaxMessageSize: wideMessageSize})
	return &wideConn{conn: conn, daemon: schema.Daemon(conn.Bootstrap(ctx))}, nil
}

func (w *wideConn) close() {
	w.daemon.Release()
	w.conn.Close()
}

// requestors returns the requestor facets of the graph of n components and of the
// 1-component factory.
func (w *wideConn) requestors(ctx context.Context, n int) (graph, one schema.Requestor, err error) {
	get := func(name string) (schema.Requestor, error) {
		fut, release := w.daemon.Requestor(ctx, func(p schema.Daemon_requestor_Params) error { return p.SetName(name) })
		defer release()
		res, err := fut.Struct()
		if err != nil {
			return schema.Requestor{}, wire.Decode(err)
		}
		return res.Requestor().AddRef(), nil
	}
	if graph, err = get(fmt.Sprintf("audit-%d", n)); err != nil {
		return graph, one, err
	}
	if one, err = get("audit-1"); err != nil {
		graph.Release()
	}
	return graph, one, err
}

// wideAuditOnce times one holes() round trip over a wide connection.
func wideAuditOnce(r schema.Requestor) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		_, _, _, _, err := wideHoles(ctx, r)
		return time.Since(start), err
	}
}

// wideHoles calls holes() on r and reads the whole report as package client does; it returns
// the numbers of components, factories and holes in it, and the answer's size in bytes.
func wideHoles(ctx context.Context, r schema.Requestor) (components, factories, holes int, size uint64, err error) {
	fut, release := r.Holes(ctx, nil)
	defer release()
	res, err := fut.Struct()
	if err != nil {
		return 0, 0, 0, 0, wire.Decode(err)
	}
	if size, err = res.Message().TotalSize(); err != nil {
		return 0, 0, 0, 0, err
	}
	rep, err := res.Report()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	components, factories, holes, err = readWholeReport(rep)
	return components, factories, holes, size, err
}

// readWholeReport reads every field of the report that package client reads (as text and
// bytes; client also converts digests and builds its structs), and counts what it holds.
func readWholeReport(rep schema.AuditReport) (components, factories, holes int, err error) {
	fs, err := rep.Factories()
	if err != nil {
		return 0, 0, 0, err
	}
	text := func(_ string, err error) error { return err }
	for i := 0; i < fs.Len(); i++ {
		f := fs.At(i)
		if err := errors.Join(text(f.Name()), text(f.Id())); err != nil {
			return 0, 0, 0, err
		}
		comps, err := f.Components()
		if err != nil {
			return 0, 0, 0, err
		}
		for j := 0; j < comps.Len(); j++ {
			c := comps.At(j)
			_, err := c.Sha256()
			if err := errors.Join(err, text(c.Name()), text(c.Reason()), text(c.Label()), text(c.HoleId())); err != nil {
				return 0, 0, 0, err
			}
		}
		components += comps.Len()
	}
	hs, err := rep.Holes()
	if err != nil {
		return 0, 0, 0, err
	}
	for i := 0; i < hs.Len(); i++ {
		h := hs.At(i)
		if err := errors.Join(text(h.Id()), text(h.Label()), text(h.Reason())); err != nil {
			return 0, 0, 0, err
		}
	}
	return components, fs.Len(), hs.Len(), nil
}
