package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/client"
)

func init() {
	register(&command{
		name:    "factory new",
		args:    "NAME --program FILE [--data KEY=FILE]... [--sensory KEY=PATH]... [--factory KEY=OTHER]... [--hole KEY=LABEL]... [--syscall NAME]... [--charge KIND=QUANTUM]... [--capability NAME]... [--strict] [--seal]",
		summary: "publish a program as a new factory with its components",
		run:     factoryNew,
	})
}

func factoryNew(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	prog := fs.String("program", "", "the program: a static executable for this machine (required)")
	var comps components
	fs.Var(&comps.data, "data", "install FILE as the immutable data component KEY (repeatable)")
	fs.Var(&comps.sensory, "sensory", "install a read-only view of PATH (a file, or a directory as a tree) as KEY")
	fs.Var(&comps.factories, "factory", "install the sealed factory OTHER as KEY; its holes become this factory's")
	fs.Var(&comps.holes, "hole", "install a dropbox you read as KEY: a declared hole, described by LABEL")
	fs.Var(&comps.syscalls, "syscall", "declare a syscall the program needs beyond the default allowlist (repeatable)")
	fs.Var(&comps.charges, "charge", "let instances charge KIND, rounded up to multiples of QUANTUM units (repeatable, at most 8)")
	fs.Var(&comps.capabilities, "capability", "give yields handed a directory the capability NAME in their confined token (repeatable)")
	fs.BoolVar(&comps.strict, "strict", false, "strict confinement: confined tokens leave out ALL_APPLICATION_PACKAGES")
	seal := fs.Bool("seal", false, "seal the factory once installed")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *prog == "" {
		return usageErr("factory new: --program is required")
	}
	if _, err := parseCharges(comps.charges); err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := publish(ctx, c, pos[0], *prog, &comps, *seal); err != nil {
		return err
	}
	state := "unsealed: install more, then 'factoryctl factory seal " + pos[0] + "'"
	if *seal {
		state = "sealed"
	}
	fmt.Fprintf(e.Stdout, "factory %s created (%s)\n", pos[0], state)
	return nil
}

// components are the components factory new installs, by kind.
type components struct {
	data, sensory, factories, holes, charges keyValues
	syscalls, capabilities                   names
	strict                                   bool
}

// names is a repeatable string flag.
type names []string

func (n *names) String() string     { return strings.Join(*n, ",") }
func (n *names) Set(s string) error { *n = append(*n, s); return nil }

// publish uploads the program and data, creates the factory, installs its components and
// optionally seals. On failure the half-built factory is destroyed: it exists complete or not
// at all.
func publish(ctx context.Context, c *client.Client, name, prog string, comps *components, seal bool) (err error) {
	pd, err := c.UploadFile(ctx, prog)
	if err != nil {
		return fmt.Errorf("upload program: %w", err)
	}
	b, err := c.NewFactory(ctx, name)
	if err != nil {
		return err
	}
	defer b.Release()
	defer func() {
		if err != nil {
			b.Destroy(context.WithoutCancel(ctx))
		}
	}()
	if err := b.SetProgram(ctx, pd); err != nil {
		return fmt.Errorf("set program: %w", err)
	}
	if err := install(ctx, c, b, comps); err != nil {
		return err
	}
	if !seal {
		return nil
	}
	r, err := b.Seal(ctx)
	r.Release()
	return err
}

func install(ctx context.Context, c *client.Client, b *client.Builder, comps *components) error {
	for _, kv := range comps.data {
		d, err := c.UploadFile(ctx, kv.value)
		if err != nil {
			return fmt.Errorf("upload data %s: %w", kv.key, err)
		}
		if err := b.InstallData(ctx, kv.key, d); err != nil {
			return fmt.Errorf("install data %s: %w", kv.key, err)
		}
	}
	for _, kv := range comps.sensory {
		if err := installSensory(ctx, c, b, kv); err != nil {
			return fmt.Errorf("install sensory %s: %w", kv.key, err)
		}
	}
	for _, kv := range comps.factories {
		if err := installFactory(ctx, c, b, kv); err != nil {
			return fmt.Errorf("install factory %s: %w", kv.key, err)
		}
	}
	for _, kv := range comps.holes {
		if err := b.InstallDropbox(ctx, kv.key, kv.value); err != nil {
			return fmt.Errorf("install hole %s: %w", kv.key, err)
		}
	}
	if len(comps.syscalls) > 0 {
		if err := b.AllowSyscalls(ctx, comps.syscalls...); err != nil {
			return fmt.Errorf("allow syscalls: %w", err)
		}
	}
	if len(comps.charges) > 0 {
		kinds, err := parseCharges(comps.charges)
		if err != nil {
			return err
		}
		if err := b.DeclareCharges(ctx, kinds...); err != nil {
			return fmt.Errorf("declare charges: %w", err)
		}
	}
	if len(comps.capabilities) > 0 || comps.strict {
		if err := b.DeclareCapabilities(ctx, comps.strict, comps.capabilities...); err != nil {
			return fmt.Errorf("declare capabilities: %w", err)
		}
	}
	return nil
}

// installSensory uploads a file as a blob, or a directory as a tree, and installs a view of it.
func installSensory(ctx context.Context, c *client.Client, b *client.Builder, kv keyValue) error {
	st, err := os.Stat(kv.value)
	if err != nil {
		return err
	}
	var view capnp.Client
	if st.IsDir() {
		t, err := c.UploadTree(ctx, kv.value)
		if err != nil {
			return err
		}
		defer t.Release()
		view = t.Cap().AddRef()
	} else {
		d, err := c.UploadFile(ctx, kv.value)
		if err != nil {
			return err
		}
		if view, err = c.Blob(ctx, d); err != nil {
			return err
		}
	}
	defer view.Release()
	return b.InstallSensory(ctx, kv.key, view)
}

func installFactory(ctx context.Context, c *client.Client, b *client.Builder, kv keyValue) error {
	r, err := c.Requestor(ctx, kv.value)
	if err != nil {
		return err
	}
	defer r.Release()
	return b.InstallFactory(ctx, kv.key, r)
}
