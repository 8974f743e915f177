package factory

import (
	"context"
	"fmt"

	"github.com/factoryd/factoryd/audit"
	"github.com/factoryd/factoryd/caps"
	"github.com/factoryd/factoryd/digest"
	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// session is the bootstrap capability of one client connection; it knows who the client is.
type session struct {
	d *Daemon
	p Principal
}

func (s *session) UploadBlob(ctx context.Context, call schema.Daemon_uploadBlob) error {
	w, err := s.d.st.NewBlobWriter(s.d.opts.MaxBlobSize)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		w.Abort()
		return err
	}
	return res.SetUpload(schema.BlobUpload_ServerToClient(&upload{d: s.d, w: w}))
}

func (s *session) Blob(ctx context.Context, call schema.Daemon_blob) error {
	d, err := digestArg(call.Args().Sha256())
	if err != nil {
		return toWire(err)
	}
	b, err := caps.NewBlob(s.d.st, d)
	if err != nil {
		return toWire(err)
	}
	res, err := call.AllocResults()
	if err != nil {
		b.Release()
		return err
	}
	return res.SetBlob(b)
}

func (s *session) NewFactory(ctx context.Context, call schema.Daemon_newFactory) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	f, err := s.d.reg.create(name, s.p.owner())
	if err != nil {
		return toWire(err)
	}
	s.d.log.Info("factory created", "factory", name, "owner", s.p.String())
	s.d.recordFactory(s.p, audit.FactoryCreated, f, store.AuditEntry{})
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetBuilder(s.d.builderFacet(f, s.p, builderRights))
}

// Builder, Requestor and Verifier open a factory by name with the client's token.

func (s *session) Builder(ctx context.Context, call schema.Daemon_builder) error {
	c, err := s.dir().openBuilder(call.Args().Name())
	return answerOpen(c, err, call.AllocResults, schema.Daemon_builder_Results.SetBuilder)
}

func (s *session) Requestor(ctx context.Context, call schema.Daemon_requestor) error {
	c, err := s.dir().openRequestor(call.Args().Name())
	return answerOpen(c, err, call.AllocResults, schema.Daemon_requestor_Results.SetRequestor)
}

func (s *session) Verifier(ctx context.Context, call schema.Daemon_verifier) error {
	c, err := s.dir().openVerifier(call.Args().Name())
	return answerOpen(c, err, call.AllocResults, schema.Daemon_verifier_Results.SetVerifier)
}

func (s *session) ListFactories(ctx context.Context, call schema.Daemon_listFactories) error {
	recs, rights := s.dir().visible()
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewFactories(int32(len(recs)))
	if err != nil {
		return err
	}
	for i, rec := range recs {
		if err := fillFactoryInfo(list.At(i), rec); err != nil {
			return err
		}
		list.At(i).SetRights(uint32(rights[i]))
		if err := list.At(i).SetRightsText(RightsText(rights[i])); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) ListInstances(ctx context.Context, call schema.Daemon_listInstances) error {
	insts := s.d.instancesOf(s.p)
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewInstances(int32(len(insts)))
	if err != nil {
		return err
	}
	for i, inst := range insts {
		if err := inst.fillInfo(list.At(i)); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) KillInstance(ctx context.Context, call schema.Daemon_killInstance) error {
	id, err := call.Args().Id()
	if err != nil {
		return err
	}
	inst, err := s.d.instanceFor(id, s.p)
	if err != nil {
		return toWire(err)
	}
	inst.kill("killed by " + s.p.String())
	select {
	case <-inst.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *session) Whoami(ctx context.Context, call schema.Daemon_whoami) error {
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	pr, err := res.NewPrincipal()
	if err != nil {
		return err
	}
	pr.SetUid(s.p.UID)
	pr.SetGid(s.p.GID)
	pr.SetPid(s.p.PID)
	if err := pr.SetName(s.p.String()); err != nil {
		return err
	}
	tok := s.p.Token
	if err := pr.SetToken(s.d.describeToken(tok)); err != nil {
		return err
	}
	if err := pr.SetUser(tok.User.String()); err != nil {
		return err
	}
	groups := make([]string, len(tok.Groups))
	for i, g := range tok.Groups {
		groups[i] = g.SID.String()
	}
	return setTextList(pr.NewGroups, groups)
}

func digestArg(b []byte, err error) (store.Digest, error) {
	if err != nil {
		return store.Digest{}, err
	}
	d, err := digest.FromBytes(b)
	if err != nil {
		return d, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return d, nil
}
