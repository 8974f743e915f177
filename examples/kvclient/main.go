// Command kvclient shows a Go program using a confined instance over Cap'n Proto RPC: it
// creates an instance of the kvstore example's factory, stores and reads keys through the
// program's own interface (kvpb.Store), and ends the instance by releasing it.
//
//	kvclient [--socket PATH] [--factory kv] [--program ./kvstore] k=v ... k ... -k ...
//
// k=v stores a value, k prints it, -k deletes it.
//
// With --program, a missing factory is published and sealed first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/factoryd/factoryd/client"
	"github.com/factoryd/factoryd/examples/kvstore/kvpb"
)

func main() {
	socket := flag.String("socket", "", "factoryd socket (default: $FACTORYD_SOCKET or the daemon's default)")
	name := flag.String("factory", "kv", "factory to instantiate")
	prog := flag.String("program", "", "kvstore program to publish if the factory does not exist")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, *socket, *name, *prog, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "kvclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, socket, name, prog string, ops []string) error {
	c, err := client.Dial(ctx, socket)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := requestor(ctx, c, name, prog)
	if err != nil {
		return err
	}
	defer r.Release()
	inst, err := r.Create(ctx, nil)
	if err != nil {
		return err
	}
	defer inst.Release() // ends the instance: its store goes with it
	store := kvpb.Store(inst.Cap())
	for _, op := range ops {
		if err := apply(ctx, store, op); err != nil {
			return err
		}
	}
	return nil
}

// requestor opens the factory, publishing it from prog if it does not exist yet.
func requestor(ctx context.Context, c *client.Client, name, prog string) (*client.Requestor, error) {
	r, err := c.Requestor(ctx, name)
	if !errors.Is(err, client.ErrNotFound) || prog == "" {
		return r, err
	}
	d, err := c.UploadFile(ctx, prog)
	if err != nil {
		return nil, err
	}
	b, err := c.NewFactory(ctx, name)
	if err != nil {
		return nil, err
	}
	defer b.Release()
	if err := b.SetProgram(ctx, d); err != nil {
		return nil, err
	}
	return b.Seal(ctx)
}

// apply runs one operation: "k=v" stores, "k" reads, "-k" deletes.
func apply(ctx context.Context, store kvpb.Store, op string) error {
	switch k, v, isPut := strings.Cut(op, "="); {
	case isPut:
		fut, release := store.Put(ctx, func(p kvpb.Store_put_Params) error {
			if err := p.SetKey(k); err != nil {
				return err
			}
			return p.SetValue([]byte(v))
		})
		defer release()
		_, err := fut.Struct()
		return err
	case strings.HasPrefix(op, "-"):
		fut, release := store.Delete(ctx, func(p kvpb.Store_delete_Params) error { return p.SetKey(op[1:]) })
		defer release()
		res, err := fut.Struct()
		if err == nil {
			fmt.Printf("%s deleted=%v\n", op[1:], res.Existed())
		}
		return err
	default:
		fut, release := store.Get(ctx, func(p kvpb.Store_get_Params) error { return p.SetKey(op) })
		defer release()
		res, err := fut.Struct()
		if err != nil {
			return err
		}
		v, _ := res.Value()
		if !res.Found() {
			fmt.Printf("%s (not found)\n", op)
			return nil
		}
		fmt.Printf("%s=%s\n", op, v)
		return nil
	}
}
