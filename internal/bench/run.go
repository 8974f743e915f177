package bench

import (
	"context"
	"errors"
	"time"
)

// Run measures every figure o asks for against a freshly started daemon and returns the
// report. Everything it started is ended before it returns, also on error or cancellation.
func Run(ctx context.Context, opts *Options) (rep *Report, err error) {
	o := opts.withDefaults()
	rep = &Report{Version: ReportVersion, Mode: modeName(opts), Started: time.Now(), Machine: describeMachine(),
		Sizes: *o.Sizes, Profiled: o.ProfileDir != ""}
	stopProfile, err := startCPUProfile(o.ProfileDir)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, stopProfile()) }()
	h, err := newHarness(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, h.close()) }()
	if err := h.runFigures(ctx, o, rep); err != nil {
		return nil, err
	}
	rep.Seconds = round3(time.Since(rep.Started).Seconds())
	rep.finish()
	return rep, nil
}

// runFigures measures each wanted figure in turn: create, call and memory first, on a daemon
// that holds nothing but the ping factory (a create forks a copy of the daemon, whose size
// counts), then billing, then the holes audit, which leaves the most in the daemon's store.
func (h *harness) runFigures(ctx context.Context, o *Options, rep *Report) error {
	var err error
	if o.wants("create") {
		if rep.Create, err = h.benchCreate(ctx, o.Sizes); err != nil {
			return errors.Join(err, h.daemon.alive())
		}
	}
	if o.wants("call") {
		if rep.Call, err = h.benchCall(ctx, o.Sizes); err != nil {
			return errors.Join(err, h.daemon.alive())
		}
	}
	if o.wants("memory") {
		if rep.Memory, err = h.benchMemory(ctx, o.Sizes); err != nil {
			return errors.Join(err, h.daemon.alive())
		}
	}
	if o.wants("billing") {
		if rep.Billing, err = h.benchBilling(ctx, o.Sizes); err != nil {
			return errors.Join(err, h.daemon.alive())
		}
	}
	if o.wants("audit") {
		if rep.HolesAudit, err = h.benchAudit(ctx, o.Sizes); err != nil {
			return errors.Join(err, h.daemon.alive())
		}
	}
	return h.daemon.alive()
}

func modeName(o *Options) string {
	switch {
	case o != nil && o.Sizes != nil:
		return "custom"
	case o != nil && o.Quick:
		return "quick"
	}
	return "full"
}
