package factory

import (
	"context"
	"fmt"

	"github.com/factoryd/factoryd/schema"
	"github.com/factoryd/factoryd/store"
)

// Dropbox limits: one message, and how many the daemon keeps per dropbox.
const (
	maxDropboxMessage = 64 << 10
	keepDropbox       = 1000
	maxDropboxRead    = 1000
)

func dropboxID(f *Factory, name string) string { return "dropbox:" + f.ID().String() + "/" + name }

// dropbox is what a yield receives for a dropbox component: it can post, nothing else. It is a
// hole by design: the builder reads what it posts.
type dropbox struct {
	d    *Daemon
	f    *Factory
	name string
}

func (b *dropbox) Post(ctx context.Context, call schema.Dropbox_post) error {
	data, err := call.Args().Data()
	if err != nil {
		return err
	}
	if len(data) > maxDropboxMessage {
		return toWire(fmt.Errorf("%w: message of %d bytes, at most %d", ErrLimit, len(data), maxDropboxMessage))
	}
	return toWire(b.d.st.PostDropbox(b.f.ID(), b.name, data, keepDropbox))
}

func fillDropboxMessages(res schema.Builder_dropbox_Results, msgs []store.DropboxMessage) error {
	list, err := res.NewMessages(int32(len(msgs)))
	if err != nil {
		return err
	}
	for i, m := range msgs {
		out := list.At(i)
		out.SetSeq(m.Seq)
		out.SetTime(m.Time.UnixNano())
		if err := out.SetData(m.Data); err != nil {
			return err
		}
	}
	return nil
}
