// Command kvstore is an example confined program with its own Cap'n Proto interface
// (kvpb.Store): an in-memory key-value store. Each instance is a private store that lives as
// long as the instance; a requestor may keep secrets in it, since the program cannot pass
// them on. See examples/kvclient for a Go program that creates an instance and uses it.
package main

import (
	"context"
	"sort"
	"sync"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/factoryd/factoryd/examples/kvstore/kvpb"
	"github.com/factoryd/factoryd/program"
)

func main() {
	program.Main(func(ctx context.Context, env *program.Env) (capnp.Client, error) {
		return capnp.Client(kvpb.Store_ServerToClient(&store{m: map[string][]byte{}})), nil
	})
}

type store struct {
	mu sync.Mutex // guards m
	m  map[string][]byte
}

func (s *store) Get(ctx context.Context, call kvpb.Store_get) error {
	key, err := call.Args().Key()
	if err != nil {
		return err
	}
	s.mu.Lock()
	v, ok := s.m[key]
	s.mu.Unlock()
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetFound(ok)
	return res.SetValue(v)
}

func (s *store) Put(ctx context.Context, call kvpb.Store_put) error {
	key, err := call.Args().Key()
	if err != nil {
		return err
	}
	v, err := call.Args().Value()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.m[key] = append([]byte(nil), v...)
	s.mu.Unlock()
	return nil
}

func (s *store) Delete(ctx context.Context, call kvpb.Store_delete) error {
	key, err := call.Args().Key()
	if err != nil {
		return err
	}
	s.mu.Lock()
	_, ok := s.m[key]
	delete(s.m, key)
	s.mu.Unlock()
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetExisted(ok)
	return nil
}

func (s *store) Keys(ctx context.Context, call kvpb.Store_keys) error {
	s.mu.Lock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	sort.Strings(keys)
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewKeys(int32(len(keys)))
	if err != nil {
		return err
	}
	for i, k := range keys {
		if err := list.Set(i, k); err != nil {
			return err
		}
	}
	return nil
}
