package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketDropbox holds dropbox messages: dropbox/<factory id>/<component name>/<seq> -> message
// (8-byte big-endian unix nanoseconds, then the data). Each dropbox keeps its newest messages.
var bucketDropbox = []byte("dropbox")

// DropboxMessage is one message a yield posted.
type DropboxMessage struct {
	Seq  uint64
	Time time.Time
	Data []byte
}

// PostDropbox appends a message to the dropbox of a factory's component, dropping the oldest
// beyond keep messages.
func (s *Store) PostDropbox(f FactoryID, name string, data []byte, keep int) error {
	return s.update(func(tx *bolt.Tx) error {
		b, err := dropboxBucket(tx, f, name, true)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
		if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), append(v, data...)); err != nil {
			return err
		}
		return trimOldest(b, keep)
	})
}

func trimOldest(b *bolt.Bucket, keep int) error {
	n := b.Stats().KeyN
	c := b.Cursor()
	for k, _ := c.First(); k != nil && n > keep; k, _ = c.Next() {
		if err := c.Delete(); err != nil {
			return err
		}
		n--
	}
	return nil
}

// DropboxMessages returns the messages after sequence number after, oldest first, at most limit.
func (s *Store) DropboxMessages(f FactoryID, name string, after uint64, limit int) ([]DropboxMessage, error) {
	var out []DropboxMessage
	err := s.view(func(tx *bolt.Tx) error {
		b, err := dropboxBucket(tx, f, name, false)
		if b == nil || err != nil {
			return err
		}
		c := b.Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 8 || len(v) < 8 {
				return fmt.Errorf("%w: dropbox message %x", ErrCorrupt, k)
			}
			out = append(out, DropboxMessage{Seq: binary.BigEndian.Uint64(k),
				Time: time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), Data: clone(v[8:])})
		}
		return nil
	})
	return out, err
}

// DeleteDropboxes removes every dropbox of a factory.
func (s *Store) DeleteDropboxes(f FactoryID) error {
	return s.update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketDropbox)
		if root == nil || root.Bucket(f[:]) == nil {
			return nil
		}
		return root.DeleteBucket(f[:])
	})
}

func dropboxBucket(tx *bolt.Tx, f FactoryID, name string, create bool) (*bolt.Bucket, error) {
	if !create {
		b := tx.Bucket(bucketDropbox)
		if b != nil {
			b = b.Bucket(f[:])
		}
		if b != nil {
			b = b.Bucket([]byte(name))
		}
		return b, nil
	}
	b, err := tx.Bucket(bucketDropbox).CreateBucketIfNotExists(f[:])
	if err == nil {
		b, err = b.CreateBucketIfNotExists([]byte(name))
	}
	return b, err
}
