// Package store keeps factoryd's durable state: one bbolt file and a content-addressed blob
// directory, both inside the daemon's data directory.
//
// Layout of the data directory:
//
//	<data>/factoryd.db            bbolt file (index and records)
//	<data>/blobs/<xx>/<sha256>    blob contents, named by their hex SHA-256, read-only
//	<data>/blobs/tmp/             uploads in progress; emptied at Open
//
// Bucket tree of factoryd.db:
//
//	meta/
//	  version            -> schema version, uint64 big-endian
//	blobs/
//	  <sha256, 32 bytes> -> blobRecord (JSON): size, creation time
//	factories/
//	  <id, 16 bytes>     -> Factory (JSON)
//	names/
//	  <name>             -> <factory id, 16 bytes>
//
// Rules: every record is copied out of its transaction before the transaction ends; a blob is
// durable (file fsynced and renamed, directory fsynced) before its record is written; records
// are JSON so that the file stays readable with bbolt's own tools; schema changes are ordered
// migrations in migrate.go, each with its own test.
package store
